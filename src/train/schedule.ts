// Learning-rate schedules: linear warmup, then cosine, linear decay or constant — HF's
// get_{linear,cosine,constant}_schedule_with_warmup: the first step (step 0) runs at lr·0/warmup = 0.

export type ScheduleKind = 'cosine' | 'linear' | 'constant';

export function learningRate(step: number, total: number, peak: number, warmup: number, kind: ScheduleKind): number {
  if (step < warmup) return (peak * step) / warmup;
  if (kind === 'constant' || total <= warmup) return peak;
  const progress = Math.min(1, (step - warmup) / Math.max(1, total - warmup));
  return kind === 'cosine' ? 0.5 * peak * (1 + Math.cos(Math.PI * progress)) : peak * (1 - progress);
}
