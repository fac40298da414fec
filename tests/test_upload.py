"""File uploads (`POST …/sessions/{s}/messages/upload`, issue 35) against a live server with the official SDK
(`session.upload_file`) and raw multipart: text, markdown, JSON and PDF files become messages of the peer,
split at natural breaks under the message size limit, with the form's metadata and date; refusals (type,
size, bad JSON, bad form fields, a foreign page) store nothing; multipart stays refused on every other path."""

from __future__ import annotations

import json

import httpx
import pytest
from honcho.http.exceptions import APIError, UnprocessableEntityError


def pdf_bytes(pages: list[str]) -> bytes:
    """A minimal PDF with one line of Helvetica text per page (offsets in the xref table computed)."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b""]
    kids = []
    for text in pages:
        stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
        content_no, page_no = len(objects) + 1, len(objects) + 2
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
                       b"/Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> >>"
                       % content_no)
        kids.append(b"%d 0 R" % page_no)
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(kids), len(kids))
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _messages(http: httpx.Client, workspace_id: str, session: str) -> list[dict]:
    r = http.post(f"/v3/workspaces/{workspace_id}/sessions/{session}/messages/list", json={})
    return r.json()["items"] if r.status_code == 200 else []


def test_sdk_uploads_text_markdown_json_and_pdf(honcho, http, workspace_id) -> None:
    session, alice = honcho.session("docs"), honcho.peer("alice")
    note = session.upload_file(("note.txt", "I keep bees on my roof.".encode(), "text/plain"), alice)
    assert [(m.content, m.peer_id) for m in note] == [("I keep bees on my roof.", "alice")]
    readme = session.upload_file(("README.md", b"# Bees\n\nThey like *lavender*.", "text/markdown"), "alice",
                                 metadata={"source": "readme"}, created_at="2024-05-01T10:00:00Z")
    assert readme[0].content == "# Bees\n\nThey like *lavender*." and readme[0].metadata == {"source": "readme"}
    assert readme[0].created_at.isoformat().startswith("2024-05-01T10:00:00")
    data = session.upload_file(("hive.json", json.dumps({"hives": 3, "名": "蜂"}).encode(), "application/json"),
                               alice)
    assert json.loads(data[0].content) == {"hives": 3, "名": "蜂"}
    pdf = session.upload_file(("hives.pdf", pdf_bytes(["Hive one is calm", "Hive two swarmed"]),
                               "application/pdf"), alice)
    assert len(pdf) == 1 and "[Page 1]\nHive one is calm" in pdf[0].content and "[Page 2]\nHive two swarmed" in \
        pdf[0].content
    stored = _messages(http, workspace_id, "docs")
    assert [m["id"] for m in stored] == [m.id for m in note + readme + data + pdf]
    assert [m.content for m in honcho.search("swarmed")] == [pdf[0].content]


def test_a_long_file_splits_at_paragraph_breaks(honcho, http, workspace_id) -> None:
    paragraph = ("The bees forage on lavender and thyme. " * 300).strip()  # 11,699 characters
    text = "\n\n".join([paragraph] * 5)  # 58,503 characters: over two 25,000-character messages
    made = honcho.session("long").upload_file(("long.txt", text.encode(), "text/plain"), "alice")
    assert len(made) == 3 and all(len(m.content) <= 25_000 for m in made)
    assert "".join(m.content for m in made) == text
    assert all(m.content.endswith("\n\n") for m in made[:-1])  # cut after a paragraph, not inside one


def test_refusals_store_nothing(honcho, http, workspace_id) -> None:
    honcho.session("s").upload_file(("a.txt", b"first", "text/plain"), "alice")
    url = f"/v3/workspaces/{workspace_id}/sessions/s/messages/upload"
    bad = [({"file": ("a.png", b"\x89PNG....", "image/png")}, {"peer_id": "alice"}, 415, "unsupported file type"),
           ({"file": ("big.txt", b"x" * 5_242_881, "text/plain")}, {"peer_id": "alice"}, 413, "limit"),
           ({"file": ("bad.json", b"{nope", "application/json")}, {"peer_id": "alice"}, 422, "JSON"),
           ({"file": ("bad.pdf", b"%PDF-1.4 garbage", "application/pdf")}, {"peer_id": "alice"}, 422, "PDF"),
           ({"file": ("empty.txt", b"", "text/plain")}, {"peer_id": "alice"}, 422, "no text"),
           ({"file": ("a.txt", b"x", "text/plain")}, {"peer_id": "alice", "metadata": "{x"}, 422, "metadata"),
           ({"file": ("a.txt", b"x", "text/plain")}, {"peer_id": "al ice"}, 422, "peer_id"),
           ({"file": ("a.txt", b"x", "text/plain")}, {"peer_id": "alice", "created_at": "soon"}, 422, "created_at"),
           ({"file": ("a.txt", b"x", "text/plain")}, {}, 422, "peer_id")]
    for files, form, status, words in bad:
        r = http.post(url, files=files, data=form)
        assert r.status_code == status and words in r.json()["detail"], (form, files["file"][0], r.status_code, r.text)
    foreign = http.post(url, files={"file": ("a.txt", b"x", "text/plain")}, data={"peer_id": "alice"},
                        headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    elsewhere = http.post(f"/v3/workspaces/{workspace_id}/sessions/s/messages",
                          files={"file": ("a.txt", b"x", "text/plain")}, data={"peer_id": "alice"})
    assert elsewhere.status_code == 415  # multipart is let through on the upload path alone
    assert [m["content"] for m in _messages(http, workspace_id, "s")] == ["first"]
    with pytest.raises(UnprocessableEntityError):
        honcho.session("s").upload_file(("a.txt", b"", "text/plain"), "alice")
    with pytest.raises(APIError) as info:
        honcho.session("s").upload_file(("a.bin", b"\x00\x01", "application/octet-stream"), "alice")
    assert info.value.status == 415
