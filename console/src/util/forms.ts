// Server refusals shown where they belong: each field's Chinese message under the field, the
// rest above the form.
import { nextTick } from 'vue'
import { ApiProblem } from '../api/problem'

/**
 * Puts a failed call's field messages into `fields` (keyed by the form's prop names; a field the
 * form does not show, or none at all, goes to the general message) and returns that message.
 * Cleared first and set on the next tick, so the same refusal twice still shows.
 */
export async function showProblem(e: unknown, fields: Record<string, string>, shown: readonly string[]): Promise<string> {
  for (const k of Object.keys(fields)) fields[k] = ''
  await nextTick()
  if (!(e instanceof ApiProblem)) return '操作失败，请稍后再试'
  const messages = e.fieldMessages()
  let unplaced = false
  for (const [path, text] of Object.entries(messages)) {
    const top = path.split(/[.[]/)[0] ?? path
    if (shown.includes(top)) fields[top] = fields[top] ? `${fields[top]}；${text}` : text
    else unplaced = true
  }
  // Field messages alone say what to fix; the general message then only when some are unplaced.
  return Object.keys(messages).length > 0 && !unplaced ? '' : e.message
}

export function clearFields(fields: Record<string, string>): void {
  for (const k of Object.keys(fields)) fields[k] = ''
}
