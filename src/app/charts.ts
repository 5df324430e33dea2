// Live charts of a TPO run (uPlot): DPO loss, reward accuracy and margin per optimizer step;
// mean judge score, parse failures, held-out win rate, thought and response length per iteration.

import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { IterationMetrics } from '../tpo/store';
import type { StepMetrics } from '../train/trainer';

function chart(host: HTMLElement, series: { label: string; stroke: string; scale?: string }[], xLabel: string): uPlot {
  const width = Math.max(280, Math.min(host.clientWidth || 360, 520));
  const scales = new Set(series.map((s) => s.scale ?? 'y'));
  return new uPlot(
    {
      width,
      height: 180,
      // x is set by `show` to the steps or iterations run (never uPlot's default 0..100)
      scales: { x: { time: false, auto: false, range: (_u, min, max) => [min ?? 0, max ?? 1] } },
      axes: [
        { label: xLabel, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000] },
        ...[...scales].map((s, i) => ({ scale: s, side: i ? 1 : 3, grid: { show: i === 0 } })),
      ],
      series: [
        { label: xLabel },
        ...series.map((s) => ({
          label: s.label,
          stroke: s.stroke,
          scale: s.scale ?? 'y',
          width: 2,
          points: { show: true, size: 4 },
        })),
      ],
    },
    [[], ...series.map(() => [])],
    host,
  );
}

export class RunCharts {
  private steps: uPlot;
  private scores: uPlot;
  private lengths: uPlot;
  private stepRows: StepMetrics[] = [];
  private iterRows: IterationMetrics[] = [];

  constructor(stepsHost: HTMLElement, scoresHost: HTMLElement, lengthsHost: HTMLElement) {
    this.steps = chart(
      stepsHost,
      [
        { label: 'loss', stroke: '#1f5fbf' },
        { label: 'reward acc.', stroke: '#2a9d3a', scale: 'r' },
        { label: 'margin', stroke: '#d07000', scale: 'r' },
      ],
      'step',
    );
    this.scores = chart(
      scoresHost,
      [
        { label: 'mean score', stroke: '#1f5fbf' },
        { label: 'parse failures', stroke: '#c33', scale: 'r' },
        { label: 'win rate vs base', stroke: '#2a9d3a', scale: 'r' },
      ],
      'iteration',
    );
    this.lengths = chart(
      lengthsHost,
      [
        { label: 'thought', stroke: '#7a3fbf' },
        { label: 'response', stroke: '#2a9d3a' },
      ],
      'iteration',
    );
  }

  reset(iterations: IterationMetrics[] = []): void {
    this.stepRows = iterations.flatMap((m) => m.dpo);
    this.iterRows = [...iterations];
    this.draw();
  }

  addStep(s: StepMetrics): void {
    this.stepRows.push(s);
    this.draw();
  }

  addIteration(m: IterationMetrics): void {
    this.iterRows = [...this.iterRows.filter((r) => r.iteration !== m.iteration), m].sort(
      (a, b) => a.iteration - b.iteration,
    );
    this.draw();
  }

  private draw(): void {
    const s = this.stepRows;
    show(this.steps, [
      s.map((_, i) => i + 1),
      s.map((m) => m.loss),
      s.map((m) => m['rewards/accuracies'] ?? null),
      s.map((m) => m['rewards/margins'] ?? null),
    ]);
    const it = this.iterRows;
    const x = it.map((m) => m.iteration);
    show(this.scores, [
      x,
      it.map((m) => m.mean_score),
      it.map((m) => m.parse_failure_rate),
      it.map((m) => (typeof m.eval?.win_rate === 'number' ? m.eval.win_rate : null)),
    ]);
    show(this.lengths, [x, it.map((m) => m.mean_thought_chars), it.map((m) => m.mean_response_chars)]);
  }
}

/**
 * New data; the x axis spans exactly the steps or iterations run (one point: that point and the
 * next whole number), and the legend shows the latest values until the cursor points elsewhere.
 */
function show(u: uPlot, data: (number | null)[][]): void {
  u.setData(data as uPlot.AlignedData);
  const x = data[0] as number[];
  const min = x.length ? x[0] : 0;
  const max = x.length ? Math.max(x[x.length - 1], min + 1) : 1;
  u.setScale('x', { min, max });
  if (x.length) u.setLegend({ idx: x.length - 1 });
}
