import torch
import torch.nn.functional as F

import utils


def digits(n=16):
    """Distinct smooth random strokes in a 28x28 frame: stand-ins for digits, each with one best match."""
    coarse = torch.rand(n, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    x = torch.zeros(n, 1, 28, 28)
    x[..., 6:22, 6:22] = F.interpolate(coarse, size=16, mode="bilinear", align_corners=False)
    return x


def test_zero_strength_is_the_identity():
    x = digits()
    assert utils.augment(x) is x
    assert torch.equal(utils.augment(x, 0, 0, 0), x)


def test_near_zero_strength_is_close_to_the_identity():
    x = digits()
    y = utils.augment(x, rotate_deg=1e-4, translate=1e-6, scale=1e-6,
                      generator=torch.Generator().manual_seed(1))
    assert torch.allclose(x, y, atol=1e-3)


def test_augmentation_keeps_each_image_in_its_place():
    # Image i is the constant i: whatever transform it gets, it must come back as i, in slot i, so the
    # batch's labels still apply. (Border padding keeps a constant image constant.)
    x = torch.arange(16.0).view(16, 1, 1, 1).expand(16, 1, 28, 28).contiguous()
    y = utils.augment(x, rotate_deg=15, translate=0.15, scale=0.15,
                      generator=torch.Generator().manual_seed(2))
    assert y.shape == x.shape
    assert torch.allclose(y, x, atol=1e-4)


def test_augmentation_changes_digits_but_keeps_their_ink():
    x = digits()
    y = utils.augment(x, rotate_deg=10, translate=0.1, scale=0.1, generator=torch.Generator().manual_seed(2))
    assert (y - x).abs().amax() > 0.1
    zoom_bound = 1.1 ** 2  # ink scales with area; 10 % zoom changes it by at most ~21 %
    ratio = y.sum((1, 2, 3)) / x.sum((1, 2, 3))
    assert ((ratio > 1 / zoom_bound - 0.02) & (ratio < zoom_bound + 0.02)).all()


def test_affine_moves_content_by_the_asked_pixels():
    x = digits(2)
    none, one = torch.zeros(2), torch.ones(2)
    right = utils.affine(x, none, one, torch.full((2,), 1 / 28), none)
    assert torch.allclose(right[..., 1:], x[..., :-1], atol=1e-5)
    down = utils.affine(x, none, one, none, torch.full((2,), 2 / 28))
    assert torch.allclose(down[..., 2:, :], x[..., :-2, :], atol=1e-5)


def test_affine_rotates_a_quarter_turn():
    x = digits(1)
    turned = utils.affine(x, torch.tensor([90.0]), torch.ones(1), torch.zeros(1), torch.zeros(1))
    assert torch.allclose(turned, torch.rot90(x, 1, dims=(2, 3)), atol=1e-4) or \
        torch.allclose(turned, torch.rot90(x, -1, dims=(2, 3)), atol=1e-4)


def test_same_generator_seed_gives_the_same_batch():
    x = digits()
    a = utils.augment(x, 10, 0.1, 0.1, generator=torch.Generator().manual_seed(3))
    b = utils.augment(x, 10, 0.1, 0.1, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
