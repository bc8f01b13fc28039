// API errors as the console shows them: every failure of the API is an RFC 9457 problem
// document (api/src/error.rs) with a stable `type` and, for bad input, the fields at fault
// (`errors: [{field, rule, message}]`). The console turns them into Chinese, naming the field.
import type { components } from '../../generated/openapi'

export type ProblemBody = components['schemas']['Problem']
export type FieldError = components['schemas']['FieldError']

/** A failed API call, with its problem document when the server sent one. */
export class ApiProblem extends Error {
  readonly status: number
  readonly type: string
  readonly detail: string
  readonly errors: FieldError[]
  readonly retryAfterSecs: number | null

  constructor(status: number, body: Partial<ProblemBody> | null, retryAfter: string | null = null) {
    const type = body?.type ?? (status === 0 ? '/problems/network' : '/problems/unknown')
    const errors = body?.errors ?? []
    const retry = retryAfter !== null && /^\d+$/.test(retryAfter) ? Number(retryAfter) : null
    super(describe(status, type, errors, retry))
    this.name = 'ApiProblem'
    this.status = status
    this.type = type
    this.detail = body?.detail ?? ''
    this.errors = errors
    this.retryAfterSecs = retry
  }

  /** The Chinese message for each field at fault, keyed by the field's JSON path. */
  fieldMessages(): Record<string, string> {
    const out: Record<string, string> = {}
    for (const e of this.errors) {
      const text = ruleText(e)
      out[e.field] = out[e.field] ? `${out[e.field]}；${text}` : text
    }
    return out
  }
}

/** Chinese names of the fields forms send; a field not listed is shown by its JSON path. */
export const FIELD_LABELS: Record<string, string> = {
  phone: '手机号',
  password: '密码',
  name: '姓名',
  email: '邮箱',
  roles: '角色',
  areas: '服务区域',
  area: '区域',
  team: '队伍',
  code: '编码',
  category: '类别',
  category_code: '类别',
  colour: '颜色',
  description: '描述',
  reason: '原因',
  feedback: '处置反馈',
  note: '备注',
  photos: '照片',
  lat: '纬度',
  lng: '经度',
  building_code: '楼幢编码',
  address: '地址',
  limit: '每页条数',
  cursor: '分页游标',
  status: '状态',
  title: '标题',
  capacity: '名额',
  shifts: '班次',
  starts_at: '开始时间',
  ends_at: '结束时间',
  points: '积分',
  points_per_hour: '每小时积分',
  amount: '数量',
  cost: '所需积分',
  stock: '库存',
  add_stock: '增加库存',
  scopes: '权限范围',
  skills: '技能',
  leaders: '负责人',
  kind: '类型',
  rating: '评分',
  comment: '评价',
  refresh_token: '刷新令牌',
  user_id: '用户',
  message: '召集内容',
  minutes: '服务时长（分钟）',
  skill: '技能',
  active: '上架状态',
  bio: '简介',
}

/** The Chinese label of a field path such as `areas[1].code` (its last named segment). */
export function fieldLabel(path: string): string {
  if (path === '') return '请求内容'
  if (FIELD_LABELS[path]) return FIELD_LABELS[path]
  const names = path.split(/[.[\]]+/).filter((s) => s !== '' && !/^\d+$/.test(s))
  const last = names[names.length - 1]
  const index = path.match(/\[(\d+)\]/)
  const label = (last && FIELD_LABELS[last]) || path
  return index && last && FIELD_LABELS[last] ? `${label}（第 ${Number(index[1]) + 1} 项）` : label
}

/** What a broken rule means, in Chinese (rules are named in api/src/domain.rs and the handlers). */
const RULES: Record<string, string> = {
  required: '不能为空',
  min_length: '太短',
  max_length: '太长',
  length: '长度不符合要求',
  range: '超出允许范围',
  format: '格式不正确',
  phone_format: '不是有效的中国大陆手机号',
  letters_and_digits: '须同时包含字母和数字',
  not_phone: '不能包含手机号',
  not_common: '过于常见，请换一个',
  no_control_chars: '含有不允许的字符',
  invalid_value: '取值无效',
  invalid: '无效',
  type: '类型不正确',
  unknown_field: '是不认识的字段',
  unique: '已存在',
  duplicate: '重复',
  one_of: '只能填写其中之一',
  min_items: '项数太少',
  max_items: '项数太多',
  unknown_area: '区域不存在',
  unknown_team: '队伍不存在',
  unknown_category: '类别不存在',
  unknown_user: '用户不存在',
  unknown_photo: '照片不存在',
  unknown_assignee: '指派对象不存在',
  cursor: '分页游标无效，请从第一页重新查询',
  insufficient_points: '积分不足',
  key_reused: '幂等键已用于另一请求',
}

function ruleText(e: FieldError): string {
  const rule = RULES[e.rule] ?? `不符合规则（${e.rule}）`
  return `${fieldLabel(e.field)}${rule}`
}

/** Chinese for each problem type the server sends (the `/problems/…` slugs of api/src/error.rs). */
const TYPES: Record<string, string> = {
  'route-not-found': '请求的接口不存在',
  'method-not-allowed': '接口不支持该操作',
  'not-found': '记录不存在，或您无权查看',
  'malformed-json': '请求内容格式错误',
  'validation-failed': '填写的内容有误',
  'invalid-code': '二维码无效',
  'payload-too-large': '提交的内容过大',
  'unsupported-media-type': '请求内容类型不受支持',
  unauthorized: '未登录或登录已失效，请重新登录',
  forbidden: '您的角色无权执行此操作',
  'not-eligible': '不符合参加条件',
  conflict: '与现有数据冲突',
  'rate-limited': '尝试次数过多',
  'too-many-connections': '打开的连接过多',
  'service-unavailable': '服务暂不可用，请稍后再试',
  'internal-error': '服务器内部错误，已记录，请稍后再试',
  'bad-request': '请求被拒绝',
  'request-timeout': '请求超时',
  network: '无法连接服务器，请检查网络',
}

function describe(status: number, type: string, errors: FieldError[], retry: number | null): string {
  const slug = type.replace(/^\/problems\//, '')
  let text = TYPES[slug] ?? `请求失败（${status}）`
  if (errors.length > 0) text = `${text}：${errors.map(ruleText).join('；')}`
  if (retry !== null) text = `${text}，请 ${retry} 秒后再试`
  return text
}

/**
 * The Chinese message of any failure, as a page shows it: an ApiProblem's own message (it names
 * the fields at fault), else `fallback` — a script error's text is no message for a user.
 */
export function messageOf(e: unknown, fallback = '操作失败，请稍后再试'): string {
  if (e instanceof ApiProblem) return e.message
  console.error(e)
  return fallback
}
