"""FID preprocessing and features: GigaGAN's resize protocol, clean-fid's pipeline, streaming reference statistics."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from cleanfid import fid as cleanfid
from cleanfid.resize import build_resizer
from cleanfid.utils import ResizeDataset
from PIL import Image

from janus_eval.errors import UserError
from janus_eval.rules.frechet import fid_from_stats
from janus_eval.scorers.fid_features import FeatureExtractor, build_feature_extractor, inception_weights
from janus_eval.scorers.fid_preprocess import FidPreprocessing, center_crop_short_side
from janus_eval.scorers.fid_reference import file_statistics, flat_reference, folder_statistics, grouped_reference
from janus_eval.scorers.tiny_scorers import ensure_tiny_fid_network


def _known_image(width: int = 641, height: int = 480) -> Image.Image:
    """A deterministic image with structure at every scale: gradients, stripes and a disc."""
    y, x = np.mgrid[0:height, 0:width]
    red = (x * 255 // (width - 1)).astype(np.uint8)
    green = ((x // 7 + y // 5) % 2 * 200 + 30).astype(np.uint8)
    blue = (((x - width / 2) ** 2 + (y - height / 3) ** 2 < (height / 4) ** 2) * 220 + (y % 3) * 10).astype(np.uint8)
    return Image.fromarray(np.stack([red, green, blue], axis=-1))


def _gigagan_transform(eval_res: int):
    """GigaGAN's `resize_and_center_crop` (evaluation/evaluation.py), written as GigaGAN calls its libraries."""

    def transform(image_np: np.ndarray) -> np.ndarray:
        image = Image.fromarray(image_np)
        image = TF.center_crop(image, min(image.size))
        return np.array(image.resize((eval_res, eval_res), Image.LANCZOS))

    return transform


def test_resize_protocol_on_a_known_image_equals_gigagan_then_clean_fid(tmp_path: Path) -> None:
    image = _known_image()
    path = tmp_path / "known.png"
    image.save(path)
    # clean-fid's own dataset class, with GigaGAN's transform, exactly as `compute_fid` builds it
    dataset = ResizeDataset([str(path)], mode="clean")
    dataset.custom_image_tranform = _gigagan_transform(256)
    expected = dataset[0].numpy().transpose(1, 2, 0)
    ours = FidPreprocessing()(image)
    assert ours.shape == (299, 299, 3) and ours.dtype == np.float32
    assert np.array_equal(ours, expected)
    # the LANCZOS step alone is GigaGAN's uint8 image; the crop rounds 80.5 to 80 as torchvision does
    assert np.array_equal(FidPreprocessing().protocol_transform(image), _gigagan_transform(256)(np.asarray(image)))
    assert center_crop_short_side(image).getbbox() == TF.center_crop(image, 480).getbbox()
    assert np.array_equal(np.asarray(center_crop_short_side(image)), np.asarray(image)[:, 80:560])
    # a flat image stays flat through both resizes (no ringing, no re-quantisation offset)
    flat = FidPreprocessing()(Image.new("RGB", (384, 384), (10, 128, 250)))
    assert np.array_equal(np.unique(flat.reshape(-1, 3), axis=0), np.array([[10, 128, 250]], dtype=np.float32))


def test_without_crop_and_eval_res_only_clean_fids_resize_remains(tmp_path: Path) -> None:
    image = _known_image(300, 200)
    plain = FidPreprocessing(eval_res=None, center_crop=False)(image)
    assert np.array_equal(plain, build_resizer("clean")(np.asarray(image)))
    path = tmp_path / "known.png"
    image.save(path)
    dataset = ResizeDataset([str(path)], mode="legacy_tensorflow")
    dataset.custom_image_tranform = _gigagan_transform(256)
    legacy = FidPreprocessing(mode="legacy_tensorflow")(image)
    assert legacy.shape == (256, 256, 3) and np.array_equal(legacy, dataset[0].numpy().transpose(1, 2, 0))


def _write_images(folder: Path, count: int, seed: int, sizes: tuple[tuple[int, int], ...]) -> None:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(count):
        width, height = sizes[number % len(sizes)]
        base = rng.integers(0, 255, size=(1, 1, 3))
        noise = rng.normal(0, 40, size=(height // 8 + 1, width // 8 + 1, 3))
        pixels = np.clip(base + np.kron(noise, np.ones((8, 8, 1)))[:height, :width], 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{number:03d}.png")


@pytest.mark.parametrize("mode", ["clean", "legacy_tensorflow"])
def test_fid_of_two_folders_equals_clean_fids_compute_fid(tmp_path: Path, mode: str) -> None:
    """Our streaming statistics against clean-fid's whole pipeline on the same network (the tiny one)."""
    sizes = ((64, 48), (40, 40), (33, 50))
    _write_images(tmp_path / "fake", 9, seed=1, sizes=sizes)
    _write_images(tmp_path / "real", 11, seed=2, sizes=sizes)
    extractor = build_feature_extractor("tiny", None, FidPreprocessing(mode=mode, eval_res=64), batch_size=4)
    ours = fid_from_stats(
        folder_statistics(flat_reference(tmp_path / "fake"), extractor, workers=0).statistics.overall(),
        folder_statistics(flat_reference(tmp_path / "real"), extractor, workers=0).statistics.overall(),
    )

    network = extractor.network
    if mode == "clean":

        def features(batch: torch.Tensor) -> torch.Tensor:
            return network.layers((batch - 128) / 128).flatten(1)
    else:

        def features(batch: torch.Tensor) -> torch.Tensor:
            return network(batch, return_features=True)

    theirs = cleanfid.compute_fid(
        str(tmp_path / "real"), str(tmp_path / "fake"), mode=mode, custom_feat_extractor=features,
        custom_image_tranform=_gigagan_transform(64), device=torch.device("cpu"), num_workers=0, batch_size=4,
        use_dataparallel=False, verbose=False,
    )  # fmt: skip
    assert ours == pytest.approx(theirs, rel=1e-6)


def test_reference_statistics_are_cached_by_fingerprint_and_checked(tmp_path: Path) -> None:
    _write_images(tmp_path / "ref" / "animals", 4, seed=3, sizes=((32, 32),))
    _write_images(tmp_path / "ref" / "food", 5, seed=4, sizes=((32, 32),))
    extractor = build_feature_extractor("tiny", None, FidPreprocessing(eval_res=32))
    folder = grouped_reference(tmp_path / "ref", ["animals", "food"])
    first = folder_statistics(folder, extractor, workers=0)
    assert first.info["groups"] == {"animals": 4, "food": 5} and first.info["count"] == 9
    stats_file = Path(first.info["statistics_file"])
    stamp = stats_file.stat().st_mtime_ns
    again = folder_statistics(grouped_reference(tmp_path / "ref", ["animals", "food"]), extractor, workers=0)
    assert stats_file.stat().st_mtime_ns == stamp and again.info["fingerprint"] == first.info["fingerprint"]
    np.testing.assert_array_equal(again.statistics.overall().outer, first.statistics.overall().outer)

    # the file serves as precomputed statistics for the same protocol and the same images ...
    assert file_statistics(stats_file, extractor, folder).info["fingerprint"] == first.info["fingerprint"]
    # ... but not for another reference set, nor another protocol
    _write_images(tmp_path / "ref" / "food", 6, seed=5, sizes=((32, 32),))
    changed = grouped_reference(tmp_path / "ref", ["animals", "food"])
    with pytest.raises(UserError, match="another reference set"):
        file_statistics(stats_file, extractor, changed)
    assert folder_statistics(changed, extractor, workers=0).info["count"] == 10  # a changed folder is recomputed
    with pytest.raises(UserError, match="another feature protocol .*preprocessing"):
        file_statistics(stats_file, build_feature_extractor("tiny", None, FidPreprocessing(eval_res=64)))
    with pytest.raises(UserError, match="lacks images for vehicles"):
        grouped_reference(tmp_path / "ref", ["animals", "vehicles"])
    (tmp_path / "ref" / "animals" / "001.png").write_bytes(b"not a png")
    with pytest.raises(UserError, match="unreadable reference image .*001.png"):
        folder_statistics(grouped_reference(tmp_path / "ref", ["animals", "food"]), extractor, workers=0)


def test_inception_weights_missing_offline_or_not_torchscript(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JANUS_EVAL_OFFLINE", "1")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # clean-fid's own download folder: empty here
    with pytest.raises(UserError, match="JANUS_EVAL_OFFLINE=1 forbids downloading .*inception_weights=PATH"):
        inception_weights(None)
    with pytest.raises(UserError, match="do not exist"):
        inception_weights(str(tmp_path / "nowhere.pt"))
    junk = tmp_path / "inception-2015-12-05.pt"
    junk.write_bytes(b"\x00" * 64)
    assert inception_weights(None) == junk  # found where clean-fid downloads it
    with pytest.raises(UserError, match="not a TorchScript feature network"):
        build_feature_extractor("inception", str(junk), FidPreprocessing())
    # any TorchScript file in clean-fid's convention loads through the Inception path
    stand_in = build_feature_extractor("inception", str(ensure_tiny_fid_network()), FidPreprocessing())
    assert isinstance(stand_in, FeatureExtractor) and stand_in.dim == 32
    assert stand_in.describe()["weights"] == "tiny-feature-network.pt"


def test_an_images_features_do_not_depend_on_its_batch_mates() -> None:
    """Forward passes of a constant shape: one image alone gets the bits it gets among others (the CPU kernels
    of a batch of one differ), so a resumed run's features equal an uninterrupted run's."""
    extractor = build_feature_extractor("tiny", None, FidPreprocessing(), batch_size=4)
    rng = np.random.default_rng(0)
    arrays = [rng.uniform(0, 255, size=(299, 299, 3)).astype(np.float32) for _ in range(6)]
    together = extractor.features_of_arrays(arrays)
    assert together.shape == (6, 32)
    for position, array in enumerate(arrays):
        assert np.array_equal(extractor.features_of_arrays([array])[0], together[position])
    assert np.array_equal(extractor.features_of_arrays(arrays[::-1]), together[::-1])
