// ECharts with only the parts the console draws, registered once: import `echarts` from here,
// never from 'echarts' itself (the whole library would triple the bundle). The map draws the
// street's own polygons with `echarts.registerMap(name, geojson)`: no tiles, nothing fetched
// from elsewhere. Add a chart or component here when a page needs it.
import * as echarts from 'echarts/core'
import { BarChart, EffectScatterChart, LineChart, LinesChart, MapChart, PieChart, ScatterChart } from 'echarts/charts'
import {
  DatasetComponent,
  GeoComponent,
  GridComponent,
  LegendComponent,
  TitleComponent,
  TooltipComponent,
  VisualMapComponent,
} from 'echarts/components'
import { CanvasRenderer } from 'echarts/renderers'

echarts.use([
  BarChart,
  EffectScatterChart,
  LineChart,
  LinesChart,
  MapChart,
  PieChart,
  ScatterChart,
  DatasetComponent,
  GeoComponent,
  GridComponent,
  LegendComponent,
  TitleComponent,
  TooltipComponent,
  VisualMapComponent,
  CanvasRenderer,
])

export { echarts }
