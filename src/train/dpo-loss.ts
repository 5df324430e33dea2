// The DPO sigmoid loss of one preference pair, with TRL's names (DPOTrainer.dpo_loss):
//   chosen_logratios   = π(chosen) − π_ref(chosen)        (summed completion log-probs)
//   rejected_logratios = π(rejected) − π_ref(rejected)
//   logits             = chosen_logratios − rejected_logratios
//   loss               = −(1 − ε)·log σ(β·logits) − ε·log σ(−β·logits)   (ε: label smoothing)
//   chosen_rewards     = β·chosen_logratios,   rejected_rewards = β·rejected_logratios
// and the loss's gradient with respect to the two policy log-probs, which the backward pass
// spreads over each completion's tokens.

export interface PairLogps {
  chosenLogp: number;
  rejectedLogp: number;
  refChosenLogp: number;
  refRejectedLogp: number;
}

export interface DpoPairLoss {
  loss: number;
  logits: number;
  chosenReward: number;
  rejectedReward: number;
  /** ∂loss/∂π(chosen) and ∂loss/∂π(rejected). */
  dChosenLogp: number;
  dRejectedLogp: number;
}

export const logSigmoid = (x: number) => (x >= 0 ? -Math.log1p(Math.exp(-x)) : x - Math.log1p(Math.exp(x)));
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

export function dpoLoss(p: PairLogps, beta: number, labelSmoothing = 0): DpoPairLoss {
  const chosenLogratios = p.chosenLogp - p.refChosenLogp;
  const rejectedLogratios = p.rejectedLogp - p.refRejectedLogp;
  const logits = chosenLogratios - rejectedLogratios;
  const z = beta * logits;
  const eps = labelSmoothing;
  const loss = -(1 - eps) * logSigmoid(z) - eps * logSigmoid(-z);
  const dz = -(1 - eps) * (1 - sigmoid(z)) + eps * sigmoid(z); // ∂loss/∂z
  return {
    loss,
    logits,
    chosenReward: beta * chosenLogratios,
    rejectedReward: beta * rejectedLogratios,
    dChosenLogp: dz * beta,
    dRejectedLogp: -dz * beta,
  };
}
