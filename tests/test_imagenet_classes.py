"""ImageNet's class names and WordNet ids ship as package data: they must stay the ones torchvision and
timm give, in the same (sorted WordNet id) order, so nothing on the default path imports either."""

from __future__ import annotations

from attribkit.data import imagenet_wnids as data_wnids
from attribkit.models import imagenet_classes
from attribkit.models._imagenet import imagenet_wnids


def test_names_are_torchvisions():
    from torchvision.models import VGG16_Weights

    assert imagenet_classes() == tuple(VGG16_Weights.IMAGENET1K_V1.meta["categories"])


def test_wnids_are_timms_and_sorted():
    from timm.data import ImageNetInfo

    wnids = imagenet_wnids()
    assert wnids == tuple(ImageNetInfo().label_names())
    assert list(wnids) == sorted(set(wnids)) and len(wnids) == 1000
    assert data_wnids() == wnids  # attribkit.data's name is the same list


def test_the_two_orders_agree():
    """Row i pairs wnid i with name i: timm's description of each synset starts like torchvision's name."""
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    names, wnids = imagenet_classes(), imagenet_wnids()
    for i in range(1000):
        assert info.label_name_to_description(wnids[i]).lower().startswith(names[i].lower().split()[0]), i
    assert (wnids[285], names[285]) == ("n02124075", "Egyptian cat")


def test_the_file_is_package_data():
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    data = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "models/imagenet_classes.tsv" in data["attribkit"]
    assert (root / "attribkit" / "models" / "imagenet_classes.tsv").is_file()
