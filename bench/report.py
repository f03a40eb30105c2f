"""The benchmark's table, its targets, and the median over several runs."""

import statistics

# (figure, what the issue asks, comparison, bound)
TARGETS = [
    ("me_over_baseline", "GET /users/me >= 0.5 x baseline", ">=", 0.5),
    ("refresh_over_baseline", "POST /auth/refresh >= 0.25 x baseline", ">=", 0.25),
    ("login_over_bcrypt", "login p50 <= 1.10 x one bcrypt verification", "<=", 1.10),
    ("me_large_over_small", "/users/me, large token tables >= 0.9 x small", ">=", 0.9),
    ("introspect_over_baseline", "POST /oauth/introspect >= 0.4 x baseline", ">=", 0.4),
    ("jwks_over_baseline", "GET /.well-known/jwks.json >= 0.8 x baseline", ">=", 0.8),
    ("worker_peak_rss_mb", "worker peak RSS <= 80 MB", "<=", 80.0),
]
FIGURES = [name for name, *_ in TARGETS]


def met(value, comparison, bound):
    return value >= bound if comparison == ">=" else value <= bound


def baseline_rps(rows):
    """The faster of the baseline's measurements (before and after authsvc's): a
    machine slowed for a while by other work must not flatter the ratios."""
    return max(row["rps"] for key, row in rows.items() if key.startswith("baseline"))


def figures(backend):
    """The ratios the targets speak of, from one backend's results."""
    rows = backend["rows"]
    base = baseline_rps(rows)
    return {
        "me_over_baseline": rows["me"]["rps"] / base,
        "refresh_over_baseline": rows["refresh"]["rps"] / base,
        "login_over_bcrypt": rows["login"]["p50_ms"] / backend["bcrypt_verify_ms"],
        "me_large_over_small": rows["me_large"]["rps"] / rows["me"]["rps"],
        "introspect_over_baseline": rows["introspect"]["rps"] / base,
        "jwks_over_baseline": rows["jwks"]["rps"] / base,
        "worker_peak_rss_mb": backend["worker_peak_rss_mb"],
    }


def format_table(backends):
    """One line per endpoint and backend, ratios to that backend's faster baseline."""
    header = (
        f"{'backend':<11} {'endpoint':<44} {'conc':>4} {'req/s':>8} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'errors':>6} {'x base':>7}"
    )
    lines = [header, "-" * len(header)]
    for backend in backends:
        rows = backend["rows"]
        base = baseline_rps(rows)
        for row in rows.values():
            errors = sum(row["errors"].values())
            lines.append(
                f"{backend['backend']:<11} {row['label']:<44} {row['connections']:>4} "
                f"{row['rps']:>8.1f} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f} "
                f"{errors:>6} {row['rps'] / base:>7.3f}"
            )
    return "\n".join(lines)


def format_figures(backends):
    lines = []
    for backend in backends:
        values = backend["figures"]
        lines.append(
            f"{backend['backend']}: login p50 {backend['rows']['login']['p50_ms']:.1f} ms / "
            f"bcrypt verify {backend['bcrypt_verify_ms']:.1f} ms "
            f"(cost {backend['bcrypt_rounds']}) = {values['login_over_bcrypt']:.3f}; "
            f"/users/me {backend['token_rows']['large']:,} / {backend['token_rows']['small']:,} "
            f"token rows = {values['me_large_over_small']:.3f}; "
            f"worker peak RSS {values['worker_peak_rss_mb']:.1f} MB "
            f"({backend['workers']} {backend['worker_class']} workers)"
        )
    return "\n".join(lines)


def median_figures(runs):
    """Per backend, the median of each figure over the runs."""
    names = [backend["backend"] for backend in runs[0]]
    return {
        name: {
            figure: statistics.median(
                backend["figures"][figure]
                for run in runs
                for backend in run
                if backend["backend"] == name
            )
            for figure in FIGURES
        }
        for name in names
    }


def format_targets(medians, runs):
    header = f"{'target':<46} " + " ".join(f"{name:>18}" for name in medians)
    lines = [f"Targets (median of {runs} run{'s' if runs != 1 else ''}):", header]
    for figure, label, comparison, bound in TARGETS:
        cells = []
        for values in medians.values():
            value = values[figure]
            verdict = "met" if met(value, comparison, bound) else "MISSED"
            cells.append(f"{value:>11.3f} {verdict:>6}")
        lines.append(f"{label:<46} " + " ".join(cells))
    return "\n".join(lines)


def target_results(medians):
    return [
        {
            "backend": name,
            "figure": figure,
            "target": label,
            "value": round(values[figure], 4),
            "met": met(values[figure], comparison, bound),
        }
        for name, values in medians.items()
        for figure, label, comparison, bound in TARGETS
    ]
