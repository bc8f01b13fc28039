// What the volunteer pages share: labels, Shanghai wall-clock times for forms, names for user
// ids, and the API's field errors placed on a form's fields. Paging is the console's one
// (util/paging.ts), re-exported here with the one message rule (api/problem.ts).
import { reactive } from 'vue'
import { ElMessage } from 'element-plus'
// Called from scripts, not templates, so the component resolver does not bring their styles.
import 'element-plus/es/components/message/style/css'
import 'element-plus/es/components/message-box/style/css'
import { api, data } from '../../api/client'
import { ApiProblem, fieldLabel, messageOf } from '../../api/problem'
import type { components } from '../../../generated/openapi'

export type Schemas = components['schemas']

export { useCursorList, type CursorList, type CursorPage } from '../../util/paging'
export { messageOf }

/**
 * Field errors of a form: the API's, by the form's own field names. `show(e)` puts an
 * ApiProblem's field messages under their fields (and the whole message in a toast).
 */
export function useFieldErrors() {
  const fields = reactive<Record<string, string>>({})
  function clear() {
    for (const k of Object.keys(fields)) delete fields[k]
  }
  function show(e: unknown) {
    clear()
    if (e instanceof ApiProblem) {
      for (const [path, text] of Object.entries(e.fieldMessages())) fields[path] = text
    }
    ElMessage.error({ message: messageOf(e), grouping: true })
  }
  return { fields, clear, show }
}

export { fieldLabel }

export const ACTIVITY_KIND_LABELS: Record<Schemas['ActivityKind'], string> = {
  service: '志愿服务',
  patrol: '巡逻',
  venue: '场馆值守',
}

export const SIGNUP_STATUS_LABELS: Record<Schemas['SignupStatus'], string> = {
  confirmed: '已确认',
  waitlisted: '候补中',
  cancelled: '已取消',
}

export const REDEMPTION_STATUS_LABELS: Record<Schemas['RedemptionStatus'], string> = {
  reserved: '待发放',
  fulfilled: '已发放',
  cancelled: '已取消',
}

export const REWARD_KIND_LABELS: Record<Schemas['RewardKind'], string> = {
  goods: '实物',
  service: '服务',
  donation: '公益捐赠',
}

export const MEMBER_STATUS_LABELS: Record<string, string> = { active: '已加入', pending: '待审批' }
export const MEMBER_ROLE_LABELS: Record<string, string> = { leader: '负责人', member: '成员' }

export const SOURCE_KIND_LABELS: Record<string, string> = {
  adjustment: '人工调整',
  volunteer: '志愿服务',
  redemption: '兑换',
  redemption_refund: '兑换退还',
  patrol: '巡逻打卡',
  sorting: '垃圾分类',
  report: '随手拍',
}

/** Minutes as hours, e.g. `12.5 小时`. */
export function hours(minutes: number | null | undefined): string {
  if (minutes === null || minutes === undefined) return '—'
  return `${Math.round((minutes / 60) * 10) / 10} 小时`
}

/**
 * Form times are Shanghai wall-clock strings (`2026-12-05 09:00:00`, what the date pickers hold
 * with value-format) whatever the browser's zone; the API takes RFC 3339 with the +08:00 offset.
 */
export function shanghaiToRfc3339(wall: string): string {
  return `${wall.replace(' ', 'T')}+08:00`
}

/** Today + `days` at `hour`:00 in Shanghai, as a form's wall-clock string. */
export function shanghaiWall(days: number, hour: number): string {
  const now = new Date(Date.now() + 8 * 3600_000)
  const d = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + days, hour))
  const p = (n: number) => String(n).padStart(2, '0')
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(hour)}:00:00`
}

export const CODE_PATTERN = /^[A-Za-z0-9._-]{1,64}$/
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** A fresh Idempotency-Key for a write that must happen once. */
export function idempotencyKey(): string {
  return crypto.randomUUID()
}

// Names for user ids, from the volunteer registry (what a coordinator may read); someone who
// is not a registered volunteer keeps a short form of their id.
const names = reactive<Record<string, string>>({})
const asked = new Set<string>()

export function rememberName(id: string, name: string) {
  names[id] = name
  asked.add(id)
}

/** The person's name when known (asked for once), else the end of their id (ids made in the
 * same moment share their beginning: it is their time). */
export function nameOf(id: string): string {
  if (!asked.has(id)) {
    asked.add(id)
    void data(api.GET('/api/v1/volunteers/{id}', { params: { path: { id } } }))
      .then((v) => {
        names[id] = v.name
      })
      .catch(() => {
        // Not a registered volunteer: the short id stays.
      })
  }
  return names[id] ?? `用户 …${id.slice(-8)}`
}
