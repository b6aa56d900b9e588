"""The upload page in a real browser: Debian's Chromium driven by Playwright."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import encode_image
from tests.serving import running_server

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        "Debian's chromium is not installed (`apt-get install chromium`; .ci/run installs it)",
        allow_module_level=True,
    )
pytest.importorskip("fastapi")
sync_api = pytest.importorskip("playwright.sync_api")

# This machine's network is closed: without these Chromium keeps trying to reach Google's hosts.
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def page_url():
    from faceedge.runtime.config import PipelineConfig
    from faceedge.runtime.server import ServeOptions

    with running_server(ServeOptions(pipeline=PipelineConfig(backend="cpu"))) as url:
        yield url


@pytest.fixture
def browser_page():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser.new_page()
        finally:
            browser.close()


def test_uploading_the_astronaut_shows_one_face_labelled_female_with_its_age(
    page_url, browser_page, astronaut, tmp_path
):
    photo = tmp_path / "astronaut.jpg"
    photo.write_bytes(encode_image(".jpg", astronaut, (1, 92)))
    page = browser_page
    page.goto(page_url)
    page.set_input_files("#file", str(photo))
    expect = sync_api.expect
    expect(page.locator("#status")).to_have_text(re.compile(r"^1 face in \d+ ms\.$"), timeout=30_000)
    expect(page.locator(".box")).to_have_count(1)
    # The bundled model gives the age too: beside the gender, as the answer has it, and its group below.
    expect(page.locator(".box.female .label")).to_have_text(re.compile(r"^female \d+%, \d+\.\d years$"))
    expect(page.locator("#summary")).to_have_text(re.compile(r"^female, \d+\.\d years \(\d+-\d+\)$"))
    expect(page.locator("#json")).to_contain_text('"gender": "female"')
    expect(page.locator("#json")).to_contain_text('"age_group": "')
    expect(page.locator("#photo")).to_have_attribute("src", re.compile(r"^blob:"))
    box = page.locator(".box").bounding_box()
    image = page.locator("#photo").bounding_box()
    assert (
        box["width"] > 20
        and image["x"] <= box["x"]
        and box["x"] + box["width"] <= image["x"] + image["width"]
    )
    page.screenshot(path=str(tmp_path / "page.png"))


def test_a_file_that_is_not_an_image_is_refused_on_the_page(page_url, browser_page, tmp_path):
    notes = tmp_path / "notes.jpg"
    notes.write_text("not a picture")
    page = browser_page
    page.goto(page_url)
    page.set_input_files("#file", str(notes))
    sync_api.expect(page.locator("#status")).to_have_text(
        re.compile(r"^Refused \(400\): the body is not an image faceedge takes"), timeout=30_000
    )
    sync_api.expect(page.locator(".box")).to_have_count(0)


def test_the_page_asks_for_the_key_of_a_guarded_server(browser_page, astronaut, tmp_path):
    from faceedge.runtime.config import PipelineConfig
    from faceedge.runtime.server import ServeOptions

    photo = tmp_path / "astronaut.png"
    photo.write_bytes(encode_image(".png", astronaut))
    page = browser_page
    with running_server(ServeOptions(pipeline=PipelineConfig(backend="cpu"), api_key="door-7")) as url:
        page.goto(url)
        sync_api.expect(page.locator("#api-key")).to_be_visible()
        page.set_input_files("#file", str(photo))
        sync_api.expect(page.locator("#status")).to_have_text(re.compile(r"^Refused \(401\)"), timeout=30_000)
        page.fill("#api-key", "door-7")
        page.locator("#api-key").press("Enter")  # a new key analyses the last image again
        sync_api.expect(page.locator("#status")).to_have_text(re.compile(r"^1 face in"), timeout=30_000)
        sync_api.expect(page.locator(".box.female")).to_have_count(1)


def test_a_gender_only_model_s_faces_show_no_age_on_the_page(browser_page, exported, astronaut, tmp_path):
    from faceedge.runtime.config import PipelineConfig
    from faceedge.runtime.server import ServeOptions

    _, folder = exported
    photo = tmp_path / "astronaut.png"
    photo.write_bytes(encode_image(".png", astronaut))
    # The whole image is the face: the session's synthetic model says nothing of how chips frame one.
    gender_only = PipelineConfig(model=folder / "gender.onnx", backend="cpu", detect=False)
    page = browser_page
    with running_server(ServeOptions(pipeline=gender_only)) as url:
        page.goto(url)
        page.set_input_files("#file", str(photo))
        sync_api.expect(page.locator("#status")).to_have_text(re.compile(r"^1 face in"), timeout=30_000)
        sync_api.expect(page.locator(".box .label")).to_have_text(re.compile(r"^(female|male) \d+%$"))
        sync_api.expect(page.locator("#summary")).to_have_text(re.compile(r"^(female|male)$"))
        sync_api.expect(page.locator("#json")).to_contain_text('"age": null')
