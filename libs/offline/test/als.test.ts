import { alsLoss, interactionMatrix, selectHistory, trainAls, type History } from '@recsys/offline';
import { generateSynthetic, indexDataset, splitByUser } from '@recsys/offline';

function smallHistory(): History {
  const ix = indexDataset(generateSynthetic({ users: 80, items: 120, interactions: 1600, seed: 4 }));
  return selectHistory(ix, splitByUser(ix), ['fit', 'val', 'test']);
}

/** Dense reference loss: Σ_{u,i} c_ui (p_ui − x_u·y_i)² + λ(‖X‖² + ‖Y‖²). */
function denseLoss(h: History, x: Float64Array, y: Float64Array, f: number, alpha: number, lambda: number): number {
  const p = new Uint8Array(h.nUsers * h.nItems);
  for (let u = 0; u < h.nUsers; u++) for (let q = h.userPtr[u]!; q < h.userPtr[u + 1]!; q++) p[u * h.nItems + h.items[q]!] = 1;
  let loss = 0;
  for (let u = 0; u < h.nUsers; u++) {
    for (let i = 0; i < h.nItems; i++) {
      let s = 0;
      for (let d = 0; d < f; d++) s += x[u * f + d]! * y[i * f + d]!;
      const pui = p[u * h.nItems + i]!;
      loss += (1 + alpha * pui) * (pui - s) ** 2;
    }
  }
  let reg = 0;
  for (const v of x) reg += v * v;
  for (const v of y) reg += v * v;
  return loss + lambda * reg;
}

describe('trainAls', () => {
  it('decreases its loss every iteration', () => {
    const h = smallHistory();
    const seen: number[] = [];
    const model = trainAls(h, { factors: 6, alpha: 10, iterations: 6, onProgress: (p) => seen.push(p.iteration) });
    expect(seen).toEqual([1, 2, 3, 4, 5, 6]);
    expect(model.losses).toHaveLength(6);
    for (let k = 1; k < model.losses.length; k++) expect(model.losses[k]!).toBeLessThan(model.losses[k - 1]!);
  });

  it('computes the loss like the dense formula', () => {
    const h = smallHistory();
    const model = trainAls(h, { factors: 4, alpha: 5, lambda: 0.1, iterations: 2 });
    const dense = denseLoss(h, model.userFactors, model.itemFactors, 4, 5, 0.1);
    expect(alsLoss(interactionMatrix(h), model, 5, 0.1)).toBeCloseTo(dense, 6);
    expect(model.losses[1]).toBeCloseTo(dense, 6);
  });

  it('solves each item row exactly: the loss gradient w.r.t. the last-updated side is zero', () => {
    const h = smallHistory();
    const f = 5;
    const alpha = 8;
    const lambda = 0.05;
    const model = trainAls(h, { factors: f, alpha, lambda, iterations: 3 });
    const m = interactionMatrix(h);
    // Items were updated last; for item i: ∂L/∂y_i = 2[(XᵀX + α X_iᵀX_i + λI) y_i − (1+α) Σ x_u].
    const x = model.userFactors;
    for (const i of [0, 7, 31]) {
      const grad = new Float64Array(f);
      for (let u = 0; u < m.nUsers; u++) {
        let s = 0;
        for (let d = 0; d < f; d++) s += x[u * f + d]! * model.itemFactors[i * f + d]!;
        const interacted = Array.prototype.includes.call(m.itemUsers.subarray(m.itemPtr[i]!, m.itemPtr[i + 1]!), u);
        const c = interacted ? 1 + alpha : 1;
        const p = interacted ? 1 : 0;
        for (let d = 0; d < f; d++) grad[d]! += c * (s - p) * x[u * f + d]!;
      }
      for (let d = 0; d < f; d++) grad[d]! += lambda * model.itemFactors[i * f + d]!;
      for (const g of grad) expect(Math.abs(g)).toBeLessThan(1e-9);
    }
  });

  it('is deterministic and zeroes entities without interactions', () => {
    const h = smallHistory();
    // An extra item nobody interacted with.
    const wider: History = { ...h, nItems: h.nItems + 1 };
    const a = trainAls(wider, { factors: 4, iterations: 2 });
    const b = trainAls(wider, { factors: 4, iterations: 2 });
    expect(Buffer.from(a.itemFactors.buffer).equals(Buffer.from(b.itemFactors.buffer))).toBe(true);
    expect(Array.from(a.itemFactors.subarray(h.nItems * 4))).toEqual([0, 0, 0, 0]);
  });

  it('learns: held-out interactions score above random items', () => {
    const ix = indexDataset(generateSynthetic({ users: 150, items: 200, interactions: 4000, seed: 8 }));
    const part = splitByUser(ix);
    const train = selectHistory(ix, part, ['fit', 'val']);
    const model = trainAls(train, { factors: 8, iterations: 5 });
    const f = 8;
    const score = (u: number, i: number): number => {
      let s = 0;
      for (let d = 0; d < f; d++) s += model.userFactors[u * f + d]! * model.itemFactors[i * f + d]!;
      return s;
    };
    let wins = 0;
    let pairs = 0;
    for (let u = 0; u < ix.userIds.length; u++) {
      const own = new Set(ix.items.subarray(ix.userPtr[u]!, ix.userPtr[u + 1]!));
      for (let p = ix.userPtr[u]!; p < ix.userPtr[u + 1]!; p++) {
        if (part[p] !== 2) continue;
        let other = (ix.items[p]! * 7 + u) % ix.itemIds.length;
        while (own.has(other)) other = (other + 1) % ix.itemIds.length;
        wins += score(u, ix.items[p]!) > score(u, other) ? 1 : 0;
        pairs++;
      }
    }
    expect(wins / pairs).toBeGreaterThan(0.62);
  });
});
