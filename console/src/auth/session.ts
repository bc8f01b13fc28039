// The signed-in user, as `/api/v1/me` describes them, shared by the router and the layout.
import { reactive } from 'vue'
import { api, data, hasSession, login, logout, onSessionEnded } from '../api/client'
import type { components } from '../../generated/openapi'

export type UserView = components['schemas']['UserView']

export const session = reactive<{ user: UserView | null; endedBecause: 'expired' | 'logout' | null }>({
  user: null,
  endedBecause: null,
})

onSessionEnded((why) => {
  session.user = null
  session.endedBecause = why
})

/** The signed-in user, asking the server once per page load; null when nobody is signed in. */
export async function currentUser(): Promise<UserView | null> {
  if (session.user !== null) return session.user
  if (!hasSession()) return null
  try {
    session.user = await data(api.GET('/api/v1/me'))
  } catch {
    // A session the server no longer accepts ended via onSessionEnded; any other failure
    // leaves the user on the login page with the tokens kept for a retry.
    return null
  }
  return session.user
}

export async function signIn(phone: string, password: string): Promise<UserView | null> {
  await login(phone, password)
  session.endedBecause = null
  session.user = null
  return currentUser()
}

export async function signOut(): Promise<void> {
  await logout()
}
