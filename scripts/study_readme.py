#!/usr/bin/env python3
"""The study's tables and charts in the README and results/study/, from results/ alone
(scripts/study.sh --tables / --check / --rerun call this; it trains nothing).

  study_readme.py PART SUMMARY_MD GENDIR tables|check
      tables: the README block <!-- study:PART --> ... <!-- /study:PART --> becomes
              SUMMARY_MD (the sweep's own table) and the charts that exist; GENDIR's
              PART.html and charts/*.svg are copied to results/study/.
      check:  exit 1, naming what differs, where the README or results/study/ is not
              what `tables` would write.
  study_readme.py --config RESULTS POINT DATA [VERSION]   the line's config, data set to DATA (VERSION:
      `wesar --version` of the build that will, to say first where it cannot give the same numbers)
  study_readme.py --compare RESULTS POINT RUNDIR [VERSION]   what RUNDIR measured against
      the line (VERSION: `wesar --version` of the build that reran it, printed beside the line's)
"""
import filecmp
import json
import os
import re
import shutil
import sys

README = "README.md"
CHARTS = [("lr-sensitivity", "LR sensitivity"), ("sigma2-tuning", "σ² tuning"), ("early-loss", "Early training loss"),
          ("figure1-W_d", "Figure 1, W_d"), ("figure1-W_u", "Figure 1, W_u")]


def line_of(results, point):
    with open(results) as f:
        for ln in f:
            j = json.loads(ln)
            if j["point"] == point:
                return j
    sys.exit(f"{results}: no line for point '{point}'")


# Lines made before the summary line recorded "simd" all ran on AVX-512 builds (Zen 4; the
# Sapphire Rapids VM's were run again there): git log results/study/ tells.
NO_SIMD = "avx512"


def machine(line):
    return f"{line.get('gemm', 'kernels not recorded')}, {line.get('simd', NO_SIMD)} build"


def machines(part):
    """The sentence under a part's table saying what computed its lines; exits where a
    cell (the lines that differ only in seed) mixes machines: their numbers would not
    rerun the same together (README, "Reruns")."""
    cells, count = {}, {}
    with open(f"results/study/{part}.jsonl") as f:
        for ln in f:
            j = json.loads(ln)
            cell = ",".join(k for k in j["point"].split(",") if not k.startswith("seed="))
            cells.setdefault(cell, set()).add(machine(j))
            count[machine(j)] = count.get(machine(j), 0) + 1
    mixed = sorted(c for c, m in cells.items() if len(m) > 1)
    if mixed:
        sys.exit(f"study {part}: a cell mixes lines from different machines: {mixed[0]} "
                 f"({' and '.join(sorted(cells[mixed[0]]))}); withdraw its lines of one and rerun them on the other")
    if len(count) <= 1:
        return f"Computed on: {next(iter(count), 'nothing yet')} (every line)."
    major = max(count, key=lambda m: (count[m], m))
    rest = [f"{m}: {count[m]} line(s), the cells {', '.join(sorted(c for c in cells if m in cells[c]))}"
            for m in sorted(count) if m != major]
    return f"Computed on: {major} ({count[major]} lines), except {'; '.join(rest)}."


def block(part, summary_md, gendir):
    with open(summary_md) as f:
        text = f.read().rstrip("\n") + "\n" + machines(part)
    imgs = [f"![{title}](results/study/charts/{part}/{name}.svg)" for name, title in CHARTS
            if os.path.exists(os.path.join(gendir, "charts", name + ".svg"))]
    body = f"<!-- study:{part} -->\n<!-- written by scripts/study.sh --tables from results/study/{part}.jsonl; " \
           f"do not edit -->\n{text}\n"
    if imgs:
        body += "\n" + "\n".join(imgs) + "\n"
    return body + f"<!-- /study:{part} -->"


def readme_with(part, new):
    with open(README) as f:
        text = f.read()
    start, end = f"<!-- study:{part} -->", f"<!-- /study:{part} -->"
    a, b = text.find(start), text.find(end)
    if a < 0 or b < a:
        sys.exit(f"{README}: no block '{start}' ... '{end}' for the study's part {part}")
    return text, text[:a] + new + text[b + len(end):]


def files(part, gendir):
    """(generated, committed) pairs: the report and each chart"""
    pairs = [(os.path.join(gendir, part + ".html"), f"results/study/{part}.html")]
    for name, _ in CHARTS:
        g = os.path.join(gendir, "charts", name + ".svg")
        if os.path.exists(g):
            pairs.append((g, f"results/study/charts/{part}/{name}.svg"))
    return pairs


def tables(part, summary_md, gendir, mode):
    old, new = readme_with(part, block(part, summary_md, gendir))
    pairs = files(part, gendir)
    if mode == "check":
        bad = [] if old == new else [f"{README} (block study:{part})"]
        bad += [c for g, c in pairs if not os.path.exists(c) or not filecmp.cmp(g, c, shallow=False)]
        committed = f"results/study/charts/{part}"  # a chart the lines no longer give is stale
        kept = sorted(os.listdir(committed)) if os.path.isdir(committed) else []
        bad += [f"{committed}/{n} (stale)" for n in kept if f"{committed}/{n}" not in {c for _, c in pairs}]
        if bad:
            sys.exit(f"study {part}: not what results/study/{part}.jsonl gives: {', '.join(bad)} "
                     f"(run scripts/study.sh --tables)")
        print(f"study {part}: README and results/study/ agree with results/study/{part}.jsonl")
        return
    if old != new:
        tmp = README + ".tmp"
        with open(tmp, "w") as f:
            f.write(new)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, README)
    shutil.rmtree(f"results/study/charts/{part}", ignore_errors=True)
    for g, c in pairs:
        os.makedirs(os.path.dirname(c), exist_ok=True)
        shutil.copyfile(g, c)
    print(f"study {part}: {README} block and {len(pairs)} file(s) under results/study/ written")


def build_machine(version):
    """`wesar --version`'s kernels and vector extension, as machine() names a line's"""
    gemm = re.search(r"products: ([^;,]*)", version)
    simd = re.search(r"built for (\w+)", version)
    return f"{gemm.group(1) if gemm else '?'}, {simd.group(1) if simd else '?'} build"


def config(results, point, data, version=""):
    """The line's config to train alone, on stdout; on stderr, before minutes of training, a
    word where this build cannot give the line's numbers (README, "Reruns")."""
    line = line_of(results, point)
    c = line["config"]
    c["train"]["data"] = data
    c["train"].pop("out", None)
    json.dump(c, sys.stdout, indent=1)
    if version and build_machine(version) != machine(line):
        print(f"{point}: note: the line was computed with {machine(line)}, this build has "
              f"{build_machine(version)}: expect other numbers (README, \"Reruns\")", file=sys.stderr)


def compare(results, point, rundir, version=""):
    line = line_of(results, point)
    if version:  # `wesar --version` of the build that reran it: "... products: openblas X...; built for Y)"
        print(f"{point}: rerun by {version.strip()}")
    vals = []
    with open(os.path.join(rundir, "log.jsonl")) as f:
        for ln in f:
            j = json.loads(ln)
            if "val_loss" in j:
                vals.append(j["val_loss"])
    got = {"final_val_loss": vals[-1] if vals else None, "best_val_loss": min(vals) if vals else None}
    print(f"{point}: the line was computed with {machine(line)}, "
          f"{line['config']['train']['threads']} thread(s); same numbers need the same")
    same = True
    for k, v in got.items():
        want = line.get(k)
        ok = v is not None and want is not None and abs(v - want) <= 5e-7 * max(1.0, abs(want))
        same &= ok
        print(f"{point}: {k}: line {want}, rerun {v}: {'same' if ok else 'DIFFERENT'}")
    sys.exit(0 if same else 1)


def main(argv):
    if len(argv) in (4, 5) and argv[0] == "--config":
        config(*argv[1:])
    elif len(argv) in (4, 5) and argv[0] == "--compare":
        compare(*argv[1:])
    elif len(argv) == 4 and argv[3] in ("tables", "check"):
        tables(*argv)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
