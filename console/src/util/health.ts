// A grid's health colour (五色) as every page shows it: its Chinese name, the colour of its tag
// and line, and the lighter fill the map paints the grid with.
export const HEALTH_LABELS: Record<string, string> = { green: '绿色', blue: '蓝色', yellow: '黄色', orange: '橙色', red: '红色' }
export const HEALTH_HEX: Record<string, string> = { green: '#389e0d', blue: '#1677ff', yellow: '#d4b106', orange: '#fa8c16', red: '#f5222d' }
export const HEALTH_FILL: Record<string, string> = { green: '#d9f7be', blue: '#bae0ff', yellow: '#fff1b8', orange: '#ffd8bf', red: '#ffccc7' }
