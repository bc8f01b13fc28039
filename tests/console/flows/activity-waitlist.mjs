// (b) A coordinator publishes an activity with one shift of 3 places and a waitlist through the
// console; five citizens sign up over REST; the activity's page shows 3 confirmed and 2
// waitlisted, each signup with its status; a confirmed volunteer is marked present, and the
// attendance QR code is shown for the venue's screen.
import { assert, DEMO, DEMO_PASSWORD, signIn } from '../lib.mjs'

export const name = 'activity-waitlist'

/** Five citizens with fresh phones, made by the admin; `rest` signs in as them by phone. */
async function fiveCitizens(rest) {
  const phones = []
  for (let i = 1; i <= 5; i++) {
    const phone = `139${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}`
    const res = await rest.post(DEMO.admin, '/api/v1/users', {
      phone,
      name: `报名居民${i}`,
      password: DEMO_PASSWORD,
      roles: ['citizen'],
    })
    assert.equal(res.status, 201, JSON.stringify(res.body))
    phones.push(phone)
  }
  return phones
}

export default async function ({ page, base, rest, shot }) {
  const citizens = await fiveCitizens(rest)

  await signIn(page, base, DEMO.coordinator)
  await page.goto(`${base}/console/volunteers/activities`)
  await page.locator('[data-test=page-activities][data-ready=true]').waitFor()
  await page.locator('[data-test=new-activity]').click()
  const form = page.locator('[data-test=activity-form]')
  const submit = page.locator('[data-test=activity-submit]')

  // The form is checked before anything is sent.
  let posts = 0
  page.on('request', (r) => {
    if (r.method() === 'POST' && new URL(r.url()).pathname === '/api/v1/activities') posts++
  })
  await submit.click()
  await form.getByText('请输入活动标题').waitFor()
  assert.equal(posts, 0, 'an activity without a title was sent')

  const title = `楼道清洁 ${Date.now()}`
  await form.locator('input[name=title]').fill(title)
  await form.locator('[data-test=shift-capacity] input').fill('3')
  await form.locator('[data-test=shift-capacity] input').blur()
  const [created] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === '/api/v1/activities' && r.request().method() === 'POST'),
    submit.click(),
  ])
  assert.equal(created.status(), 201, await created.text())
  const activity = await created.json()
  assert.equal(activity.title, title)
  assert.equal(activity.shifts.length, 1)
  const shift = activity.shifts[0]
  assert.equal(shift.capacity, 3)
  assert.equal(shift.waitlist, true)

  // The new activity's page opens by itself, with nobody signed up yet.
  const detail = page.locator(`[data-test=activity-detail][data-activity="${activity.id}"][data-ready=true]`)
  await detail.waitFor()
  const shiftBox = detail.locator('[data-test=shift-0]')
  assert.equal(await shiftBox.locator('[data-test=confirmed-count]').innerText(), '0')

  // Five signups; the API decides who waits.
  const answers = []
  for (const phone of citizens) {
    const res = await rest.post(phone, `/api/v1/shifts/${shift.id}/signups`)
    assert.equal(res.status, 201, JSON.stringify(res.body))
    answers.push(res.body.status)
  }
  assert.deepEqual(answers, ['confirmed', 'confirmed', 'confirmed', 'waitlisted', 'waitlisted'])

  await detail.locator('[data-test=refresh-activity]').click()
  await shiftBox.locator('[data-test=confirmed-count]').getByText('3', { exact: true }).waitFor()
  await shiftBox.locator('[data-test=waitlisted-count]').getByText('2', { exact: true }).waitFor()
  const rows = shiftBox.locator('[data-test=signup-row]')
  await rows.nth(4).waitFor()
  assert.equal(await rows.count(), 5)
  assert.equal(await shiftBox.locator('[data-test=signup-row][data-status=confirmed]').count(), 3)
  assert.equal(await shiftBox.locator('[data-test=signup-row][data-status=waitlisted]').count(), 2)
  // The status column says so in Chinese.
  assert.equal(await shiftBox.locator('.el-tag').getByText('已确认', { exact: true }).count(), 3)
  assert.equal(await shiftBox.locator('.el-tag').getByText('候补中', { exact: true }).count(), 2)
  await shot('signups')

  // The waitlist alone, through the status filter.
  await Promise.all([
    page.waitForResponse((r) => r.url().includes(`/api/v1/shifts/${shift.id}/signups`) && r.url().includes('status=waitlisted')),
    shiftBox.locator('.el-radio-button').getByText('候补中', { exact: true }).click(),
  ])
  await shiftBox.locator('[data-test=signup-row][data-status=confirmed]').first().waitFor({ state: 'detached' })
  assert.equal(await rows.count(), 2)
  await shiftBox.locator('.el-radio-button').getByText('全部', { exact: true }).click()
  await rows.nth(4).waitFor()

  // Attendance: the first confirmed volunteer is marked present for the whole shift.
  await shiftBox.locator('[data-test=mark-attendance]').first().click()
  const box = page.locator('.el-message-box')
  await box.waitFor()
  const [marked] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith(`/api/v1/shifts/${shift.id}/attendance`)),
    box.locator('.el-button--primary').click(),
  ])
  assert.equal(marked.status(), 200, await marked.text())
  assert.ok((await marked.json()).attended_at)
  await shiftBox.locator('[data-test=attended]').first().waitFor()

  // The attendance code, drawn as a QR code for the projector.
  await detail.locator('[data-test=show-attendance-code]').click()
  await page.locator('[data-test=attendance-code][data-ready=true] [data-test=attendance-qr] svg').waitFor()
}
