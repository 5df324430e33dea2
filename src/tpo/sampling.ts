// The paper's sampling (arXiv 2410.10630: temperature 0.8, top-p 0.95): the one source of the
// sampling defaults for the CLI's run, the worker, the Train screen and the demo scripts.

export const PAPER_SAMPLING = { temperature: 0.8, topP: 0.95 } as const;
