"""A tiny NumPy logistic-regression trainer: the CLI example's job.

    caliban cloud --backend local --nogpu trainer.train --experiment_config exp.json
"""

import argparse

import numpy as np


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    rng = np.random.default_rng(args.seed)
    x = rng.normal(size=(500, 3))
    true_w = np.array([1.5, -2.0, 0.5])
    y = (x @ true_w + 0.3 * rng.normal(size=500) > 0).astype(float)

    w = np.zeros(3)
    for _ in range(args.epochs):
        p_hat = 1 / (1 + np.exp(-(x @ w)))
        w -= args.lr * x.T @ (p_hat - y) / len(y)
    accuracy = float(((x @ w > 0) == y).mean())
    print(f"lr={args.lr} epochs={args.epochs} seed={args.seed} accuracy={accuracy:.3f}")


if __name__ == "__main__":
    main()
