// Every page of the console and who may open it. The side menu is built from these routes
// (those with `meta.menu`), so a page is added in one place: a route here and a component
// under pages/.
import { createRouter, createWebHistory, type RouteLocationNormalized, type RouteRecordRaw } from 'vue-router'
import type { Role } from './auth/roles'
import { isConsoleUser, mayOpen } from './auth/roles'
import { onSessionEnded } from './api/client'
import { currentUser } from './auth/session'
import ConsoleLayout from './layout/ConsoleLayout.vue'
import LoginPage from './pages/LoginPage.vue'
import NotForRole from './pages/NotForRole.vue'

declare module 'vue-router' {
  interface RouteMeta {
    /** Shown in the menu, the breadcrumb and the tab's title. */
    title?: string
    /** The roles that may open it (and its children); absent: every console role. */
    roles?: Role[]
    /** Listed in the side menu. */
    menu?: boolean
    /** Opens without signing in. */
    public?: boolean
  }
}

const COMMAND: Role[] = ['dispatcher', 'admin']
const VOLUNTEERS: Role[] = ['coordinator', 'admin']
const ADMIN: Role[] = ['admin']

export const consoleRoutes: RouteRecordRaw[] = [
  { path: 'map', name: 'map', component: () => import('./pages/MapPage.vue'), meta: { title: '一张图', roles: COMMAND, menu: true } },
  { path: 'dispatch', name: 'dispatch', component: () => import('./pages/DispatchPage.vue'), meta: { title: '调度台', roles: COMMAND, menu: true } },
  { path: 'events/:id', name: 'event', component: () => import('./pages/EventPage.vue'), meta: { title: '事件详情', roles: COMMAND } },
  { path: 'lights', name: 'lights', component: () => import('./pages/LightsPage.vue'), meta: { title: '亮灯督办', roles: COMMAND, menu: true } },
  { path: 'rankings', name: 'rankings', component: () => import('./pages/RankingsPage.vue'), meta: { title: '排名', roles: COMMAND, menu: true } },
  { path: 'reports', name: 'reports', component: () => import('./pages/ReportsPage.vue'), meta: { title: '月度研判', roles: COMMAND, menu: true } },
  { path: 'buildings', name: 'buildings', component: () => import('./pages/BuildingsPage.vue'), meta: { title: '楼宇', roles: COMMAND, menu: true } },
  {
    path: 'volunteers',
    meta: { title: '志愿者', roles: VOLUNTEERS, menu: true },
    children: [
      { path: '', name: 'volunteers', component: () => import('./pages/volunteers/RegistryPage.vue'), meta: { title: '志愿者名册', menu: true } },
      { path: 'teams', name: 'volunteer-teams', component: () => import('./pages/volunteers/TeamsPage.vue'), meta: { title: '队伍审批', menu: true } },
      { path: 'activities', name: 'activities', component: () => import('./pages/volunteers/ActivitiesPage.vue'), meta: { title: '活动与班次', menu: true } },
      { path: 'callouts', name: 'callouts', component: () => import('./pages/volunteers/CalloutsPage.vue'), meta: { title: '紧急召集', menu: true } },
      { path: 'points', name: 'points', component: () => import('./pages/volunteers/PointsPage.vue'), meta: { title: '积分与兑换', menu: true } },
    ],
  },
  {
    path: 'admin',
    meta: { title: '系统管理', roles: ADMIN, menu: true },
    children: [
      { path: '', name: 'admin-users', component: () => import('./pages/admin/UsersPage.vue'), meta: { title: '用户', menu: true } },
      { path: 'api-keys', name: 'admin-api-keys', component: () => import('./pages/admin/ApiKeysPage.vue'), meta: { title: 'API 密钥', menu: true } },
      { path: 'policies', name: 'admin-policies', component: () => import('./pages/admin/PoliciesPage.vue'), meta: { title: '类别与时限', menu: true } },
    ],
  },
]

/** The first page of the menu this person may open: where `/console/` takes them. */
export function homeFor(roles: readonly Role[]): string {
  const first = consoleRoutes.find((r) => r.meta?.menu && mayOpen(roles, r.meta.roles))
  return first ? `/${first.path}` : '/not-for-role'
}

export const router = createRouter({
  history: createWebHistory('/console/'),
  routes: [
    { path: '/login', name: 'login', component: LoginPage, meta: { title: '登录', public: true } },
    { path: '/not-for-role', name: 'not-for-role', component: NotForRole, meta: { title: '角色不适用' } },
    {
      path: '/',
      component: ConsoleLayout,
      children: [
        // Where `/console/` lands: the guard sends each person to the first page of their menu.
        { path: '', name: 'home', component: { render: () => null } },
        ...consoleRoutes,
        { path: ':rest(.*)*', name: 'not-found', component: () => import('./pages/NotFoundPage.vue'), meta: { title: '页面不存在' } },
      ],
    },
  ],
})

function allowedRoles(to: RouteLocationNormalized): Role[] | undefined {
  // The innermost route that names roles decides (a section's children inherit its roles).
  for (let i = to.matched.length - 1; i >= 0; i--) {
    const roles = to.matched[i]?.meta.roles
    if (roles) return roles
  }
  return undefined
}

router.beforeEach(async (to) => {
  if (to.meta.public) return true
  const user = await currentUser()
  if (user === null) {
    return { name: 'login', query: to.fullPath === '/' ? {} : { redirect: to.fullPath } }
  }
  if (to.name === 'home') return homeFor(user.roles)
  if (to.name === 'not-for-role') return true
  // Nothing of the console is for this person: no page of it may load any data.
  if (!isConsoleUser(user.roles) || !mayOpen(user.roles, allowedRoles(to))) {
    return { name: 'not-for-role', query: { from: to.fullPath } }
  }
  return true
})

router.afterEach((to) => {
  document.title = to.meta.title ? `${to.meta.title} · 网格治理指挥中心` : '网格治理指挥中心'
})

// A session the server ended (refresh refused: expired, revoked, or logged out elsewhere) sends
// the user to the login page, back to where they were afterwards.
onSessionEnded((why) => {
  const here = router.currentRoute.value
  if (why === 'expired' && !here.meta.public) {
    void router.push({ name: 'login', query: { redirect: here.fullPath } })
  }
})
