"""localgene.pipelines.dna_memory: every DNA step declares its memory from one formula."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from localgene.pipelines import dna_memory, dna_steps

RULES_DIR = Path(__file__).resolve().parents[2] / "rules"


def _rules() -> dict[str, str]:
    """rule name -> its text, for every rule of the DNA workflows."""
    out = {}
    for smk in sorted(RULES_DIR.glob("dna_*/*.smk")):
        text = smk.read_text()
        for m in re.finditer(r"^\s*rule (\w+):\n(.*?)(?=^\s*rule \w+:|\Z)", text, re.S | re.M):
            out[m.group(1)] = m.group(2)
    return out


def test_every_dna_rule_declares_its_own_figure_and_records_its_peak():
    rules = _rules()
    assert {"dna_align", "dna_bwa_index", "dna_call_germline", "dna_call_somatic", "dna_classify"} <= set(rules)
    assert set(rules) == set(dna_memory.RULES)  # no rule without a figure, no figure without a rule
    for name, body in rules.items():
        declared = re.findall(r"mem_mb=(.*),\n", body)
        assert len(declared) == 1 and f'dna_memory.mem_mb("{name}"' in declared[0], (name, declared)
        assert re.search(r'benchmark:\n\s+"logs/benchmark/' + name + r'[.\w{}]*\.tsv"', body), name


def test_the_bwa_steps_grow_with_the_reference():
    # bwa mem holds .bwt + .sa + .pac (1.75 bytes per base) next to the sort buffer.
    for ref_mb in (1, 100, 3100):
        for threads in (1, 8):
            need = dna_memory.BWA_MEM_BYTES_PER_BASE * ref_mb + dna_memory.SORT_MEM_MB + dna_memory.PYTHON_MB
            assert dna_memory.mem_mb("dna_align", ref_mb, threads) > need
    assert dna_memory.mem_mb("dna_align", 3100, 8) > dna_memory.mem_mb("dna_align", 3100, 1) > dna_memory.mem_mb("dna_align", 1, 1)
    # bwa index: the 'is' algorithm up to 25 Mb (measured 104.6 MB for 10 Mb), bwtsw above (66 MB for 30 Mb).
    assert dna_memory.mem_mb("dna_bwa_index", 10) > 104.6
    assert dna_memory.mem_mb("dna_bwa_index", 30) > 66
    assert 5_000 < dna_memory.mem_mb("dna_bwa_index", 3100) < 10_000  # hg38: bwtsw
    with pytest.raises(KeyError, match="no memory figure"):
        dna_memory.mem_mb("dna_unknown")


def test_sort_steps_give_their_tool_the_buffer_they_declare(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(dna_steps, "run_pipeline", lambda cmds, *a, **k: seen.extend(cmds))
    dna_steps.align("r1.fq", "r2.fq", "ref.fa", {"ID": "s", "SM": "s"}, 2, str(tmp_path / "o.bam"), tmp_path / "log")
    dna_steps.concat(["a.vcf.gz"], str(tmp_path / "o.vcf.gz"), tmp_path / "log")
    sorts = [c for c in seen if c[:2] in (["samtools", "sort"], ["bcftools", "sort"])]
    assert len(sorts) == 2
    for cmd in sorts:
        assert cmd[cmd.index("-m") + 1] == f"{dna_memory.SORT_MEM_MB}M"
    for rule in ("dna_align", "dna_concat", "dna_prepare_bam"):
        assert dna_memory.mem_mb(rule) >= dna_memory.PYTHON_MB + dna_memory.SORT_MEM_MB


def test_benchmark_peaks_read_snakemakes_records(tmp_path):
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    (tmp_path / "dna_align.tumor.tsv").write_text(header + "12.5\t0:00:12\t310.25\t900\t300\t305\t1\t2\t150\t20\n")
    (tmp_path / "dna_shards.tsv").write_text(header + "0.1\t0:00:00\tNA\tNA\tNA\tNA\tNA\tNA\tNA\t0\n")
    assert dna_steps.benchmark_peaks(tmp_path) == {"dna_align.tumor": 310.2, "dna_shards": None}
    assert dna_steps.benchmark_peaks(tmp_path / "missing") == {}


def test_on_a_cluster_each_step_also_holds_its_snakemake():
    # in a SLURM job the limit covers the job's Snakemake and its srun step's Snakemake as well
    for rule in dna_memory.RULES:
        assert dna_memory.mem_mb(rule, 10, 2, cluster=True) == dna_memory.mem_mb(rule, 10, 2) + 600
