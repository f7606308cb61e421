"""Readable pictures (issue 15): legends that never overprint, greyed low-probability titles, captions,
titles that fit, blurred overlays and the bare maps as files."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import to_hex
from PIL import Image

from attribkit.render import (
    LOW_PROBABILITY,
    box_legend,
    draw_boxes,
    is_low,
    overlay,
    probability_label,
    save_map,
    save_panel,
)
from attribkit.render._boxes import PALETTE
from attribkit.render._figures import MUTED, panel_figure


def _extents(fig):
    """Lay the figure out as saving it would (Agg, 100 dpi) and return the renderer for pixel extents."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def _overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_probability_label_marks_low_classes():
    assert probability_label(0.38) == "p=0.38"
    assert probability_label(0.001) == "p=0.00 (low)"
    assert probability_label(0.049) == "p=0.05"  # shown as 0.05: not below the line the reader sees
    assert is_low(0.044) and not is_low(0.046) and LOW_PROBABILITY == 0.05


def test_box_legend_uses_the_box_colours_in_order():
    legend = box_legend([f"class {i}" for i in range(12)])
    assert [c for _, c in legend[:10]] == list(PALETTE) and legend[10][1] == PALETTE[0]
    assert len(set(PALETTE)) == 10  # the paper's top-5 (and a top-10) never repeat a colour
    photo = np.zeros((100, 100, 3), np.uint8)
    drawn = draw_boxes(photo, [(10, 10, 50, 50), (20, 20, 90, 90)])
    assert tuple(drawn[30, 10]) == PALETTE[0] and tuple(drawn[60, 20]) == PALETTE[1]


def test_five_box_labels_never_overprint_each_other_or_the_photo():
    photo = np.full((300, 450, 3), 120, np.uint8)
    labels = ["tiger cat p=0.38", "Egyptian cat p=0.37", "tabby p=0.17", "lynx p=0.02 (low)",
              "window screen p=0.00 (low)"]
    # Five nearly identical boxes: labels drawn at their corners would sit on top of each other.
    boxes = [(10 + i, 10 + i, 400, 290) for i in range(5)]
    fig = panel_figure([draw_boxes(photo, boxes), photo], ["boxes", "map"], suptitle="chelsea.jpg",
                       legends=[box_legend(labels), None], size=4.5)
    renderer = _extents(fig)
    ax = fig.axes[0]
    texts = ax.get_legend().get_texts()
    assert [t.get_text() for t in texts] == labels
    boxes_px = [t.get_window_extent(renderer) for t in texts]
    image_px = ax.get_window_extent(renderer)
    for i, a in enumerate(boxes_px):
        assert not _overlap(a, image_px), texts[i].get_text()
        assert all(not _overlap(a, b) for b in boxes_px[i + 1:])
        assert a.y0 >= 0  # inside the figure
    # Low-probability entries are greyed.
    assert [to_hex(t.get_color()) for t in texts][3:] == [MUTED, MUTED]


def test_titles_of_two_lines_do_not_reach_the_row_above():
    images = [np.random.default_rng(i).random((224, 224)) for i in range(8)]
    titles = [f"Fourier: class {i}\np=0.9{i} (top-1)" for i in range(8)]
    fig = panel_figure(images, titles, columns=4, size=2.6, suptitle="class models")
    renderer = _extents(fig)
    first_row = [ax.get_window_extent(renderer) for ax in fig.axes[:4]]
    second_titles = [ax.title.get_window_extent(renderer) for ax in fig.axes[4:8]]
    assert all(not _overlap(t, a) for t in second_titles for a in first_row)
    suptitle = fig._suptitle.get_window_extent(renderer)
    assert all(not _overlap(suptitle, ax.title.get_window_extent(renderer)) for ax in fig.axes[:4])


def test_muted_titles_and_caption(tmp_path):
    fig = panel_figure([np.zeros((10, 10))] * 2, ["a", "b"], suptitle="s", muted=[False, True],
                       caption="DeconvNet looks the same for every photo")
    assert to_hex(fig.axes[0].title.get_color()) == "#000000" and to_hex(fig.axes[1].title.get_color()) == MUTED
    assert fig._supxlabel.get_text() == "DeconvNet looks the same for every photo"
    # A long caption is wrapped to stay inside the figure.
    fig = panel_figure([np.zeros((10, 10))] * 2, ["a", "b"], size=2.6, caption="word " * 60)
    renderer = _extents(fig)
    extent = fig._supxlabel.get_window_extent(renderer)
    assert extent.x0 >= 0 and extent.x1 <= fig.bbox.width and "\n" in fig._supxlabel.get_text()
    fig = panel_figure([np.zeros((10, 10))], ["a"], suptitle="s", muted=True)
    assert to_hex(fig._suptitle.get_color()) == MUTED
    assert save_panel(tmp_path / "p.png", [np.zeros((10, 10))], caption="c").is_file()


def test_overlay_blur_spreads_a_hot_pixel_for_display():
    photo = np.zeros((64, 64, 3), np.uint8)
    m = np.zeros((64, 64))
    m[32, 32] = 1.0
    sharp, blurred = overlay(photo, m), overlay(photo, m, blur=0.05)
    assert (sharp.sum(-1) > 0).sum() == 1
    assert (blurred.sum(-1) > 0).sum() > 20 and blurred[32, 32].sum() > 0


def test_save_map_writes_the_values_and_a_16_bit_png(tmp_path):
    m = np.full((30, 40), np.nan, np.float32)
    m[5:25, 10:30] = np.linspace(0, 2, 400, dtype=np.float32).reshape(20, 20)
    npy, png = save_map(tmp_path / "sub" / "photo_map", m)
    assert (npy.name, png.name) == ("photo_map.npy", "photo_map.png")
    back = np.load(npy)
    assert back.dtype == np.float32 and back.shape == (30, 40)
    np.testing.assert_array_equal(np.isnan(back), np.isnan(m))
    np.testing.assert_array_equal(back[5:25, 10:30], m[5:25, 10:30])
    img = Image.open(png)
    assert img.mode.startswith("I;16") or img.mode == "I"
    grey = np.asarray(img).astype(np.int64)
    assert grey.shape == (30, 40) and grey.max() == 65535 and grey[0, 0] == 0
    assert float(img.text["attribkit:max"]) == pytest.approx(2.0)
    # Scaled back through the stored maximum, the PNG gives the map to 16-bit precision.
    np.testing.assert_allclose(grey[5:25, 10:30] / 65535 * 2.0, m[5:25, 10:30], atol=2 / 65535)
    with pytest.raises(ValueError):
        save_map(tmp_path / "x", np.zeros((2, 3, 4)))


def test_the_top_1_box_is_drawn_over_the_others_and_thicker():
    rgb = np.zeros((200, 200, 3), np.uint8)
    same = (40, 40, 160, 160)
    out = draw_boxes(rgb, [same, same, same])
    # Where the three boxes overlap, the top-1 colour shows; its line is twice the others' width.
    assert tuple(out[100, 40]) == PALETTE[0]
    thick = max(1, round(200 / 200))
    assert tuple(out[100, 40 + 2 * thick - 1]) == PALETTE[0]
    other = draw_boxes(rgb, [None, (20, 20, 80, 80)])
    assert tuple(other[50, 20]) == PALETTE[1] and tuple(other[50, 21]) == (0, 0, 0)


def test_classes_of_negligible_probability_get_no_box():
    rgb = np.zeros((100, 100, 3), np.uint8)
    out = draw_boxes(rgb, [(10, 10, 50, 50), (60, 60, 90, 90)], scores=[0.9, 0.001])
    assert tuple(out[30, 10]) == PALETTE[0] and not out[60:90, 60:90].any()
    # Without scores every box is drawn, as before.
    assert draw_boxes(rgb, [(10, 10, 50, 50), (60, 60, 90, 90)])[75, 60].any()


def test_dollar_signs_in_names_are_plain_text(tmp_path):
    # "$\cmd$" in a photo or class name used to reach matplotlib's mathtext and stop the batch.
    name = r"my $\cmd$ photo $x_1$.jpg"
    path = save_panel(tmp_path / "p.png", [np.zeros((20, 20, 3), np.uint8), np.ones((20, 20))],
                      [name, r"$\frac{a}{"], suptitle=name, caption=r"cost in $\$$",
                      legends=[[(r"class $\oops$ p=0.40", PALETTE[0])], None])
    assert path.is_file()
    fig = panel_figure([np.zeros((20, 20, 3), np.uint8)], [name])
    assert fig.axes[0].get_title() == name and not fig.axes[0].title.get_parse_math()


def test_the_parts_the_model_did_not_see_are_darkened():
    # Issue 20: boxes never reach past the model's centre crop; the panel says where that crop is.
    rgb = np.full((100, 160, 3), 200, np.uint8)
    out = draw_boxes(rgb, [], seen=(30, 0, 130, 100))
    assert (out[:, 30:130] == 200).all() and (out[:, :30] < 100).all() and (out[:, 130:] < 100).all()
