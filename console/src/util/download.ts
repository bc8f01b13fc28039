// Files from the API (PDF, XLSX, CSV) are fetched with the session's bearer token, which a plain
// link cannot carry, then handed to the browser as a download under the name the server gave
// (its Content-Disposition `filename*`, RFC 6266: Chinese names arrive percent-encoded).
import { ApiProblem } from '../api/problem'
import { data } from '../api/client'

/** The file name of a download's Content-Disposition, else `fallback`. */
export function fileNameOf(res: Response, fallback: string): string {
  const header = res.headers.get('content-disposition') ?? ''
  const encoded = /filename\*=UTF-8''([^;]+)/i.exec(header)?.[1]
  if (encoded) {
    try {
      return decodeURIComponent(encoded)
    } catch {
      // A malformed name: the fallback is as good.
    }
  }
  const plain = /filename="([^"]+)"/i.exec(header)?.[1]
  return plain ?? fallback
}

/** Hands `blob` to the browser as a download called `name`. */
export function saveBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob)
  const a = document.createElement('a')
  a.href = url
  a.download = name
  document.body.appendChild(a)
  a.click()
  a.remove()
  // The browser has taken the file by the time a minute has passed.
  setTimeout(() => URL.revokeObjectURL(url), 60_000)
}

/**
 * Saves what `call` (an `api.GET(…, { parseAs: 'blob' })`) answers under the server's file name;
 * returns the name. A refusal throws the API's problem, as `data()` does.
 */
export async function download(
  call: Promise<{ data?: unknown; error?: unknown; response: Response }>,
  fallback: string,
): Promise<string> {
  let answered: { data?: unknown; error?: unknown; response: Response }
  try {
    answered = await call
  } catch (e) {
    throw e instanceof ApiProblem ? e : new ApiProblem(0, null)
  }
  const blob = (await data(Promise.resolve(answered))) as Blob
  const name = fileNameOf(answered.response, fallback)
  saveBlob(blob, name)
  return name
}
