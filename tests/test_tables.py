"""Atomic table I/O: a failed write leaves the old file (or nothing) and no temporary behind."""

import errno
import os

import pandas as pd
import pytest

from llm_audit import tables
from llm_audit.errors import AuditError


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_round_trip(tmp_path, suffix):
    df = pd.DataFrame({"id": ["a", "b"], "loss": [-1.5, -2.25]})
    path = tables.write_table(df, tmp_path / f"t{suffix}")
    back = tables.read_table(path)
    assert back["id"].tolist() == ["a", "b"]
    assert back["loss"].tolist() == [-1.5, -2.25]


def test_refuses_overwrite_when_asked(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("keep me")
    with pytest.raises(AuditError, match="already exists"):
        tables.write_table(pd.DataFrame({"a": [1]}), path, overwrite=False)
    assert path.read_text() == "keep me"


def test_full_disk_keeps_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "t.parquet"
    tables.write_table(pd.DataFrame({"a": [1, 2]}), path)
    before = path.read_bytes()

    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(tables.os, "fsync", no_space)
    with pytest.raises(AuditError, match="No space left"):
        tables.write_table(pd.DataFrame({"a": [3, 4, 5]}), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.parquet"]


def test_interrupted_write_leaves_no_temp(tmp_path):
    path = tmp_path / "out.txt"
    with pytest.raises(KeyboardInterrupt):
        with tables.atomic_open(path, "w") as handle:
            handle.write("half")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_a_missing_output_folder_is_created(tmp_path):
    path = tmp_path / "missing" / "deeper" / "t.csv"
    tables.check_target(path, overwrite=False)
    assert not (tmp_path / "missing").exists()  # checking creates nothing
    tables.write_table(pd.DataFrame({"a": [1]}), path)
    assert tables.read_table(path)["a"].tolist() == [1]


def test_an_output_under_a_file_is_refused(tmp_path):
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(AuditError, match="a_file is not a folder"):
        tables.write_table(pd.DataFrame({"a": [1]}), tmp_path / "a_file" / "sub" / "t.csv")


def test_not_parquet_is_one_line_error(tmp_path):
    path = tmp_path / "fake.parquet"
    path.write_text("id,loss\na,1\n")
    with pytest.raises(AuditError) as info:
        tables.read_table(path)
    assert "fake.parquet" in str(info.value) and "\n" not in str(info.value)


def test_unknown_suffix(tmp_path):
    with pytest.raises(AuditError, match="unknown table format"):
        tables.write_table(pd.DataFrame({"a": [1]}), tmp_path / "t.xlsx")


def test_outputs_get_the_umask_permissions_not_the_temp_files(tmp_path):
    import stat

    from llm_audit.tables import _UMASK, atomic_write_text

    atomic_write_text(tmp_path / "shared.txt", "x")
    assert stat.S_IMODE((tmp_path / "shared.txt").stat().st_mode) == 0o666 & ~_UMASK


def test_csv_keeps_attrs_in_a_sidecar_that_describes_that_file_only(tmp_path):
    df = pd.DataFrame({"id": ["a", "b"], "loss": [-1.5, -2.25]})
    df.attrs = {"model": {"id": "abc", "files": {"model.safetensors": "f00"}}, "scoring": {"k_grid": (0.2,)}}
    path = tables.write_table(df, tmp_path / "t.csv")
    assert tables.meta_path(path) == tmp_path / "t.csv.meta.json"
    assert tables.read_table(path).attrs == {"model": {"id": "abc", "files": {"model.safetensors": "f00"}},
                                             "scoring": {"k_grid": [0.2]}}
    path.write_text(path.read_text().replace("-1.5", "-1.75"))  # edited by hand: the sidecar no longer describes it
    assert tables.read_table(path).attrs == {}
    tables.write_table(pd.DataFrame({"id": ["c"]}), path)  # a table without attrs takes its stale sidecar along
    assert not tables.meta_path(path).exists() and tables.read_table(path).attrs == {}
