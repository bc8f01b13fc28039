// Team approvals: the coordinator creates a team that requires approval through the console; a
// registered volunteer asks to join over REST; the request waits on the team's roster and the
// coordinator approves it there, after which the volunteer is an active member.
import { assert, DEMO, DEMO_PASSWORD, signIn } from '../lib.mjs'

export const name = 'team-approval'

export default async function ({ page, base, rest, shot }) {
  const phone = `135${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}`
  const made = await rest.post(DEMO.admin, '/api/v1/users', { phone, name: '入队测试志愿者', password: DEMO_PASSWORD, roles: ['citizen'] })
  assert.equal(made.status, 201, JSON.stringify(made.body))
  const volunteer = made.body.id
  const registered = await rest.post(phone, '/api/v1/volunteers/me', { areas: ['QSH-G001'] })
  assert.ok([200, 201].includes(registered.status), JSON.stringify(registered.body))

  await signIn(page, base, DEMO.coordinator)
  await page.goto(`${base}/console/volunteers/teams`)
  await page.locator('[data-test=page-volunteer-teams][data-ready=true]').waitFor()
  await page.locator('[data-test=new-team]').click()
  const form = page.locator('[data-test=team-form]')
  await form.locator('input[name=code]').fill('has space')
  await page.locator('[data-test=team-submit]').click()
  await form.getByText('编码只能包含字母、数字和 . _ -，最多 64 位').waitFor()
  await form.getByText('请输入队伍名称').waitFor()

  const code = `LDHZ-${Date.now()}`
  await form.locator('input[name=code]').fill(code)
  await form.locator('input[name=name]').fill('楼道互助队')
  const [created] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === '/api/v1/volunteer-teams' && r.request().method() === 'POST'),
    page.locator('[data-test=team-submit]').click(),
  ])
  assert.equal(created.status(), 201, await created.text())
  assert.equal((await created.json()).requires_approval, true)
  await page.waitForURL((url) => url.searchParams.get('team') === code)

  const joined = await rest.post(phone, `/api/v1/volunteer-teams/${code}/join`)
  assert.equal(joined.status, 200, JSON.stringify(joined.body))
  assert.equal(joined.body.status, 'pending')

  // The request waits on the team's roster.
  const roster = page.locator(`[data-test=team-roster][data-team="${code}"]`)
  await roster.locator('[data-test=refresh-roster]').click()
  const request = roster.locator('[data-test=member-row][data-status=pending]').getByText('入队测试志愿者', { exact: true })
  await request.waitFor()
  await shot('pending')
  const [decided] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith(`/api/v1/volunteer-teams/${code}/decisions`)),
    request.locator('xpath=ancestor::tr').locator('[data-test=approve]').click(),
  ])
  assert.equal(decided.status(), 200, await decided.text())
  await request.waitFor({ state: 'detached' })

  // Now a member.
  await roster.locator('.el-radio-button').getByText('已加入', { exact: true }).click()
  await roster.locator('[data-test=member-row][data-status=active]').getByText('入队测试志愿者', { exact: true }).waitFor()
  const profile = await rest.get(DEMO.coordinator, `/api/v1/volunteers/${volunteer}`)
  assert.deepEqual(
    profile.body.teams.map((t) => [t.team, t.status]),
    [[code, 'active']],
  )
}
