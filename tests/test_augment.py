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


def mnist_like(n=16):
    """`digits` normalised as MNIST is: the blank background at -0.42, not 0, and the outer ring blank."""
    return (digits(n) - 0.1307) / 0.3081


def border_padded(x, draws, rotate_deg, translate, scale):
    """What `random_affine` computed before: bilinear with border padding (CPU and CUDA only)."""
    angle, zoom, shift_x, shift_y = draws * 2 - 1
    angle = angle * rotate_deg * (torch.pi / 180)
    cos, sin = torch.cos(angle) / (1 + zoom * scale), torch.sin(angle) / (1 + zoom * scale)
    theta = torch.stack([torch.stack([cos, -sin, -2 * shift_x * translate], 1),
                         torch.stack([sin, cos, -2 * shift_y * translate], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def test_augmentation_asks_for_no_padding_mode_a_mac_lacks(monkeypatch):
    """Apple's MPS grid sampler refuses border padding: one code path on every device uses zeros only."""
    modes = []
    grid_sample = F.grid_sample
    monkeypatch.setattr(F, "grid_sample", lambda *a, **k: modes.append(k.get("padding_mode")) or
                        grid_sample(*a, **k))
    utils.augment(mnist_like(), 10, 0.1, 0.1, generator=torch.Generator().manual_seed(0))
    assert modes == ["zeros"]


def test_digits_with_a_blank_edge_augment_as_with_border_padding():
    """A digit whose outermost ring is background (98.6 % of MNIST's) comes out as border padding made it."""
    x = mnist_like()
    draws = torch.rand(4, len(x), generator=torch.Generator().manual_seed(5))
    ours = utils.random_affine(x, draws, 10, 0.1, 0.1)
    assert torch.allclose(ours, border_padded(x, draws, 10, 0.1, 0.1), atol=1e-4)
    assert (ours - x).abs().amax() > 0.5  # and they did move


def test_ink_on_the_edge_is_not_smeared_inwards():
    """A stroke along the left edge, the page moved right: border padding copied the stroke into every column
    that came in from outside; zero padding around the background shows blank paper there."""
    x = mnist_like(1)
    x[..., :, 0] = x.max()  # ink all down the left edge
    none, one = torch.zeros(1), torch.ones(1)
    moved = utils.affine(x, none, one, torch.full((1,), 3 / 28), none)  # three pixels right
    background = x.min()
    assert torch.allclose(moved[..., :, :2], background.expand(1, 1, 28, 2), atol=1e-5)  # paper
    assert torch.allclose(moved[..., :, 3], x[..., :, 0], atol=1e-5)  # the stroke, moved three columns


def test_a_whole_epochs_draws_at_once_are_the_batch_by_batch_draws():
    """tensor_batches draws an epoch's augmentation in one call (one copy to a GPU, no wait per step): the
    numbers are those drawn batch by batch from the same generator."""
    import dataclasses

    from conftest import synthetic_data

    import model

    data = synthetic_data(n_train=300)
    recipe = dataclasses.replace(model.RECIPES["final"], batch_size=128)  # 128, 128, 44
    ours = list(utils.tensor_batches(data, recipe, torch.Generator().manual_seed(7)))
    generator = torch.Generator().manual_seed(7)
    order = torch.randperm(300, generator=generator)
    for (x, y), idx in zip(ours, order.split(128), strict=True):
        expected = utils.augment(data.train_x[idx], recipe.rotate_deg, recipe.translate, recipe.scale,
                                 generator)
        assert torch.equal(x, expected) and torch.equal(y, data.train_y[idx])
