// Progressive enhancement for the server-rendered console: every <canvas data-chart="..."> becomes a chart.
// The data comes from the page (a data attribute the server wrote); the table beside each chart holds the same numbers.
import { Chart, BarController, BarElement, LineController, LineElement, PointElement, CategoryScale, LinearScale, Tooltip, Legend } from "chart.js";

Chart.register(BarController, BarElement, LineController, LineElement, PointElement, CategoryScale, LinearScale, Tooltip, Legend);

const palette = ["#0b5cad", "#a3201a", "#1d6b32", "#b26b00", "#6a3fa0", "#00707a"];

for (const canvas of document.querySelectorAll("canvas[data-chart]")) {
  let spec;
  try {
    spec = JSON.parse(canvas.dataset.chart);
  } catch {
    continue;
  }
  if (!spec || !Array.isArray(spec.labels) || !Array.isArray(spec.series)) continue;
  new Chart(canvas, {
    type: spec.type === "line" ? "line" : "bar",
    data: {
      labels: spec.labels.map(String),
      datasets: spec.series.map((s, i) => ({
        label: String(s.label ?? ""),
        data: (s.data ?? []).map(Number),
        backgroundColor: palette[i % palette.length],
        borderColor: palette[i % palette.length],
        yAxisID: s.axis === "right" ? "right" : "y",
      })),
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      scales: spec.series.some((s) => s.axis === "right")
        ? { y: { beginAtZero: true, position: "left" }, right: { beginAtZero: true, position: "right", grid: { drawOnChartArea: false } } }
        : { y: { beginAtZero: true } },
      plugins: { legend: { display: spec.series.length > 1 } },
    },
  });
  canvas.dataset.rendered = "true";
}
