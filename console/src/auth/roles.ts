// Who the console is for. The API's roles are in api/src/auth/roles.rs; citizens, grid workers
// and team members have their own apps and get the "not for your role" page here.
import type { components } from '../../generated/openapi'

export type Role = components['schemas']['Role']
export type AreaKind = components['schemas']['AreaKind']

export const CONSOLE_ROLES: readonly Role[] = ['dispatcher', 'coordinator', 'admin']

export const ROLE_LABELS: Record<Role, string> = {
  citizen: '居民',
  grid_worker: '网格员',
  team_member: '队员',
  dispatcher: '指挥中心值班员',
  coordinator: '志愿者协调员',
  admin: '管理员',
}

export const AREA_KIND_LABELS: Record<AreaKind, string> = {
  street: '街道',
  community: '社区',
  grid_layer: '网层',
  grid: '网格',
  micro_grid: '微网格',
  team: '队伍',
}

export function isConsoleUser(roles: readonly Role[]): boolean {
  return roles.some((r) => CONSOLE_ROLES.includes(r))
}

/** Whether someone with `roles` may open a page meant for `allowed` (none listed: any console user). */
export function mayOpen(roles: readonly Role[], allowed: readonly Role[] | undefined): boolean {
  if (!isConsoleUser(roles)) return false
  return allowed === undefined || allowed.length === 0 || roles.some((r) => allowed.includes(r))
}
