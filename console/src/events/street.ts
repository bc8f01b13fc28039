// The street's area polygons (GET /api/v1/areas/export), fetched once per page load and shared
// by the map and an event's small map. WGS-84 like the events' points (see MapPage.vue).
import { api, data } from '../api/client'
import { echarts } from '../charts/echarts'

export interface AreaFeature {
  type: 'Feature'
  geometry: { type: 'Polygon' | 'MultiPolygon'; coordinates: number[][][] | number[][][][] } | null
  properties: { code: string; level: string; name: string; parent_code: string | null }
}

const loaded = new Map<string, Promise<AreaFeature[]>>()

/** The street's features; its grids are registered with ECharts as the map `street-CODE`. */
export function streetAreas(street: string): Promise<AreaFeature[]> {
  let p = loaded.get(street)
  if (!p) {
    p = (async () => {
      const doc = (await data(api.GET('/api/v1/areas/export', { params: { query: { street } }, parseAs: 'json' }))) as {
        features?: AreaFeature[]
      }
      const features = doc.features ?? []
      echarts.registerMap(`street-${street}`, {
        type: 'FeatureCollection',
        features: features
          .filter((f) => f.properties.level === 'grid' && f.geometry)
          .map((g) => ({ type: 'Feature', geometry: g.geometry, properties: { name: g.properties.code } })),
      } as never)
      return features
    })()
    loaded.set(street, p)
    p.catch(() => loaded.delete(street))
  }
  return p
}
