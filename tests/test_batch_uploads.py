"""Uploads into a batch: zips and their members under hostile names and sizes, the batch's limits, the names."""

from __future__ import annotations

import io
import struct
import zipfile

import pytest

from hdcore import Config, Engine, batch, webapp
from hdcore.batch import BatchLimits, UniqueNames, batch_inputs
from tests.conftest import photo, png_bytes


def zip_of(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def zip_with_duplicates(members: list[tuple[str, bytes]]) -> bytes:
    """A zip that names members as given, the same name twice included (zipfile warns, but writes it)."""
    buffer = io.BytesIO()
    with pytest.warns(UserWarning) if len({n for n, _ in members}) < len(members) else _nothing():
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, data in members:
                archive.writestr(name, data)
    return buffer.getvalue()


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.fixture
def count_reads(monkeypatch) -> list[str]:
    """The names of the zip members read (decompressed), in order."""
    read: list[str] = []
    original = zipfile.ZipFile.open

    def counted(self, name, mode="r", *args, **kwargs):
        if mode == "r":
            read.append(getattr(name, "filename", name))
        return original(self, name, mode, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", counted)
    return read


# --- what a zip gives ------------------------------------------------------------------------------------


def test_a_zip_gives_its_images_only():
    data = zip_of({"a.png": png_bytes(photo((8, 8))), "sub/b.JPG": b"x", "notes.txt": b"hi",
                   "__MACOSX/._a.png": b"junk", ".hidden.png": b"", "../../evil.png": b"e", "folder/": b""})  # fmt: skip
    found, notes = batch_inputs([("set.zip", data)])
    assert [one.name for one in found] == ["a.png", "sub/b.JPG", "evil.png"]  # never outside the folder
    assert found[0].data == png_bytes(photo((8, 8)))
    assert notes == ["set.zip: 3 other files left out (not images): notes.txt, __MACOSX/_a.png, hidden.png"]
    _, one = batch_inputs([("one.zip", zip_of({"a.png": b"1", "readme.txt": b"x"}))])
    assert one == ["one.zip: readme.txt left out (not an image)"]


def test_a_zip_of_thousands_of_other_files_is_one_note_with_a_few_names():
    members = {f"doc{i:04d}.txt": b"" for i in range(3000)}
    found, notes = batch_inputs([("docs.zip", zip_of({**members, "a.png": b"1"}, zipfile.ZIP_STORED))])
    assert len(found) == 1
    assert notes == ["docs.zip: 3,000 other files left out (not images): doc0000.txt, doc0001.txt, doc0002.txt "
                     "and 2,997 more"]  # fmt: skip


def test_a_bad_zip_or_member_is_one_line_and_the_others_go_on():
    found, problems = batch_inputs([("bad.zip", b"PK\x03\x04 truncated"), ("a.png", b"0")])
    assert [one.name for one in found] == ["a.png"]
    assert problems[0].startswith("bad.zip: not a readable zip file") and "\n" not in problems[0]
    corrupt = bytearray(zip_of({"a.png": b"A" * 200, "b.png": b"B" * 10}, compression=zipfile.ZIP_STORED))
    corrupt[corrupt.index(b"A" * 200) + 5] = ord("Z")  # a stored member whose CRC no longer matches
    found, notes = batch_inputs([("crc.zip", bytes(corrupt))])
    assert [one.name for one in found] == ["b.png"] and notes[0].startswith("crc.zip: a.png cannot be read (")


# --- limits for the whole batch, before anything is read -------------------------------------------------


def test_a_member_declaring_more_than_one_image_may_be_is_left_out_unread(count_reads):
    bomb = zip_of({"big.png": bytes(70 * 1024 * 1024), "small.png": b"s"})  # 70 MiB of zeros, ~70 KB packed
    assert len(bomb) < 1_000_000
    found, notes = batch_inputs([("bomb.zip", bomb)])
    assert [one.name for one in found] == ["small.png"] and count_reads == ["small.png"]
    assert notes == ["bomb.zip: big.png left out: it declares 73.4 MB uncompressed (at most 68.2 MB per image)"]


def test_the_image_count_holds_for_the_batch_and_nothing_is_read_past_the_cut(count_reads):
    zips = [(f"z{i}.zip", zip_of({f"{j}.png": b"x" * 10 for j in range(3)})) for i in range(3)]
    found, problems = batch_inputs([("first.png", b"0"), *zips], BatchLimits(max_images=5))
    assert [one.name for one in found] == ["first.png", "0.png", "1.png", "2.png", "0-2.png"]
    assert problems == ["10 images: only the first 5 are enhanced"]
    assert count_reads == ["0.png", "1.png", "2.png", "0.png"]  # z0's three, z1's first; z2 never touched


def test_the_declared_bytes_hold_for_the_batch_not_per_zip(count_reads):
    zips = [(f"z{i}.zip", zip_of({f"z{i}/{j}.png": bytes(400) for j in range(2)})) for i in range(3)]
    found, problems = batch_inputs(zips, BatchLimits(max_total_bytes=1_000))  # each zip alone is within
    assert [one.name for one in found] == ["z0/0.png", "z0/1.png"]
    assert problems == ["the images after the first 2 declare more than 1 KB together: 4 left out"]
    assert count_reads == ["z0/0.png", "z0/1.png"]


def test_a_zip_listing_too_many_entries_is_refused_from_its_end_record(monkeypatch):
    many = zip_of({f"{i}": b"" for i in range(12)}, zipfile.ZIP_STORED)
    monkeypatch.setattr(zipfile.ZipFile, "__init__", lambda *a, **k: pytest.fail("the directory was parsed"))
    found, problems = batch_inputs([("many.zip", many)], BatchLimits(max_entries=10))
    assert found == [] and problems == ["many.zip: the zip lists 12 entries (at most 10)"]


def test_a_central_directory_larger_than_the_limit_is_refused_even_when_the_count_lies(monkeypatch):
    data = bytearray(zip_of({f"{i:0100d}.txt": b"" for i in range(200)}, zipfile.ZIP_STORED))
    end = data.rindex(b"PK\x05\x06")
    struct.pack_into("<HH", data, end + 8, 1, 1)  # "one entry", while the directory lists 200
    monkeypatch.setattr(zipfile.ZipFile, "__init__", lambda *a, **k: pytest.fail("the directory was parsed"))
    found, problems = batch_inputs([("liar.zip", bytes(data))], BatchLimits(max_directory_bytes=10_000))
    assert found == [] and problems == ["liar.zip: the zip's list of entries takes 30 KB (at most 10 KB)"]


# --- names -----------------------------------------------------------------------------------------------


def test_a_file_beside_a_folder_of_the_same_name_gets_a_name_of_its_own_in_either_order():
    first = zip_with_duplicates([("x.png", b"1"), ("x.png/y.png", b"2"), ("X.PNG/z.png", b"3")])
    found, _ = batch_inputs([("a.zip", first)])
    assert [one.name for one in found] == ["x.png", "x.png-2/y.png", "x.png-2/z.png"]
    second = zip_with_duplicates([("x.png/y.png", b"2"), ("x.png", b"1")])
    found, _ = batch_inputs([("b.zip", second)])
    assert [one.name for one in found] == ["x.png/y.png", "x-2.png"]


def test_names_are_unique_by_folder_and_stem_whatever_the_case():
    data = zip_with_duplicates([("a.png", b"1"), ("x/a.png", b"2"), ("a.png", b"dup")])
    inputs, problems = batch_inputs([("a.png", b"0"), ("set.zip", data), ("A.jpg", b"3"), ("bad.zip", b"no")])
    assert [one.name for one in inputs] == ["a.png", "a-2.png", "x/a.png", "a-3.png", "A-4.jpg"]
    assert [one.data for one in inputs] == [b"0", b"1", b"2", b"dup", b"3"]
    assert problems == ["bad.zip: not a readable zip file (File is not a zip file)"]


@pytest.mark.parametrize("wanted, given", [
    ("../../etc/passwd.png", "etc/passwd.png"),
    ("/abs/olute.png", "abs/olute.png"),
    ("C:\\Windows\\x.png", "C_/Windows/x.png"),
    ("a/./b/../c.png", "a/b/c.png"),
    ("tab\there\nnew\u202egnp.exe.png", "tab_here_new_gnp.exe.png"),
    ('what?<>:"|*.png', "what_______.png"),
    ("CON.png", "CON_.png"),
    ("trailing. /dots. .png", "trailing/dots.png"),
    (".", "image"),
    ("e\u0301.png", "\u00e9.png"),  # one name however it was typed (NFC)
    ("/".join(f"d{i}" for i in range(20)) + "/deep.png", "/".join(f"d{i}" for i in range(8)) + "/deep.png"),
])  # fmt: skip
def test_every_name_becomes_a_safe_relative_path(wanted, given):
    assert UniqueNames().name(wanted) == given


def test_a_name_too_long_for_a_file_system_is_cut_keeping_its_suffix():
    names = UniqueNames()
    long = "é" * 300 + ".png"  # 604 bytes
    first, second = names.name(long), names.name(long)
    for name in (first, second):
        assert len(name.encode()) <= 200 and name.endswith(".png") and name.startswith("éé")
    assert second.endswith("-2.png") and first != second
    folder = names.name("f" * 400 + "/x.png")
    assert all(len(part.encode()) <= 200 for part in folder.split("/"))


def test_hostile_zips_run_as_a_batch_with_every_good_image_and_no_server_path():
    image = png_bytes(photo((12, 10)))
    hostile = zip_with_duplicates([("x.png", image), ("x.png/y.png", image), ("é" * 200 + ".png", image),
                                   ("../up.png", image), ("bad.png", b"not an image")])  # fmt: skip
    inputs, problems = webapp.batch_inputs([("h.zip", hostile)])
    assert problems == []
    settings = batch.BatchSettings(scale=2, provider="lanczos")
    outcome = webapp.run_batch_upload(Engine(Config()), inputs, settings)
    assert [r.status for r in outcome.results] == ["ok", "ok", "ok", "ok", "failed"] and not outcome.error
    failure = webapp.batch_failure_lines(outcome)[0]
    assert failure.startswith("bad.png: ") and "/tmp" not in failure and "hdcore-batch" not in failure
    with zipfile.ZipFile(io.BytesIO(outcome.zip_data)) as archive:
        names = archive.namelist()
        csv_text = archive.read("attempts.csv").decode()
    assert names[:2] == ["x_x2.png", "x.png-2/y_x2.png"] and len(names) == 5
    assert all(len(part.encode()) <= 200 for name in names for part in name.split("/"))
    assert "/tmp" not in csv_text and "bad.png" in csv_text
