// The area tree as pickers show it: street → community → grid layer → grid → micro-grid, read
// page by page from `GET /api/v1/areas` once per page load. Zones and watch circles are not
// areas a person serves, so pickers leave them out.
import { api, data } from '../api/client'
import type { components } from '../../generated/openapi'
import type { AreaKind } from '../auth/roles'
import { allPages } from './paging'

export type AreaView = components['schemas']['AreaView']

export interface AreaNode {
  value: string
  label: string
  kind: AreaKind
  children?: AreaNode[]
}

const KINDS: readonly string[] = ['street', 'community', 'grid_layer', 'grid', 'micro_grid']

let loaded: Promise<AreaView[]> | null = null

/** Every area a person may serve, whatever the street; asked for once. */
export function servableAreas(): Promise<AreaView[]> {
  if (loaded === null) {
    loaded = allPages((cursor) => data(api.GET('/api/v1/areas', { params: { query: { limit: 200, cursor } } })))
      .then((all) => all.filter((a) => KINDS.includes(a.level)))
      .catch((e: unknown) => {
        loaded = null
        throw e
      })
  }
  return loaded
}

/** The areas as a tree for el-tree-select, children under their parents, in code order. */
export function areaTree(areas: AreaView[]): AreaNode[] {
  const nodes = new Map<string, AreaNode>()
  for (const a of areas) {
    nodes.set(a.code, { value: a.code, label: `${a.name}（${a.code}）`, kind: a.level as AreaKind })
  }
  const roots: AreaNode[] = []
  for (const a of [...areas].sort((x, y) => x.code.localeCompare(y.code))) {
    const node = nodes.get(a.code)
    if (!node) continue
    const parent = a.parent_code ? nodes.get(a.parent_code) : undefined
    if (parent) (parent.children ??= []).push(node)
    else roots.push(node)
  }
  return roots
}

/** The grids, for filters and the QR sheet: `name（code）` by code. */
export async function grids(): Promise<AreaView[]> {
  return (await servableAreas()).filter((a) => a.level === 'grid').sort((x, y) => x.code.localeCompare(y.code))
}
