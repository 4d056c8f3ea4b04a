"""Classifiers: both reach high accuracy on a quick fit; only the generative one can generate."""

import numpy as np
import pytest
import torch

from gdl_pyro.data import world
from gdl_pyro.fitting import Fit, NoDensityError
from gdl_pyro.models.classify import FourierFeatures, fit_class_conditional, fit_logistic

# Quick fits on 3000 points. The chapter's defaults reach 0.999 for both; a quick fit is held to
# 0.95. Conditional samples of a quick 8-component mixture land on target ~70% of the time
# (the default 20 components on 20,000 points: 0.83); held to 0.6 here.
QUICK_ACCURACY = 0.95
QUICK_ON_TARGET = 0.6


@pytest.fixture(scope="module")
def data():
    return world.sample_land_labelled(3000, seed=0), world.sample_land_labelled(2000, seed=1)


def test_features_respect_the_dateline():
    phi = FourierFeatures(num_features=50, seed=0)
    east, west = phi(torch.tensor([[179.999, 60.0]])), phi(torch.tensor([[-179.999, 60.0]]))
    assert torch.allclose(east, west, atol=1e-3)
    assert phi(torch.zeros(4, 2)).shape == (4, 50)


@pytest.mark.slow
def test_discriminative_classifier(data):
    (x, y), (x_test, y_test) = data
    model = fit_logistic(x, y, num_classes=5, num_steps=400, quiet=True, seed=0)
    assert isinstance(model, Fit) and model.nll_kind == "none" and len(model.losses) == 400
    probs = model.predict_proba(x_test)
    assert torch.allclose(probs.sum(-1), torch.ones(len(x_test)), atol=1e-5)
    assert (probs.argmax(-1) == y_test).double().mean() > QUICK_ACCURACY
    # p(y | x) only: nothing to generate from, no density of x to give.
    for ask in (lambda: model.sample(3), model.distribution, lambda: model.log_prob(x_test)):
        with pytest.raises(NoDensityError, match="p\\(y \\| x\\) only"):
            ask()


@pytest.mark.slow
def test_generative_classifier_classifies_and_generates(data):
    (x, y), (x_test, y_test) = data
    model = fit_class_conditional(
        x, y, num_classes=5, num_components=8, num_steps=300, quiet=True, seed=0
    )
    assert isinstance(model, Fit) and model.nll_kind == "exact"
    assert (model.predict(x_test) == y_test).double().mean() > QUICK_ACCURACY
    shares = [
        (world.land_mass_of(model.sample_given(c, 1000, seed=c)) == c).double().mean().item()
        for c in range(5)
    ]
    assert sum(shares) / 5 > QUICK_ON_TARGET
    assert min(shares) > 0.4  # each class's samples mostly fall on that class's land

    # p(x) = sum_y p(y) p(x | y): its log density is the log-sum-exp of the joint over classes.
    joint = model.log_joint(x_test[:50])
    assert torch.allclose(model.log_prob(x_test[:50]), joint.logsumexp(-1), atol=1e-4)
    assert model.sample(7, seed=0).shape == (7, 2)


def test_bad_labels():
    with pytest.raises(ValueError, match="labels must lie in 0..4"):
        fit_logistic(
            torch.zeros(3, 2), torch.tensor([0, 1, -1]), num_classes=5, num_steps=1, quiet=True
        )
    with pytest.raises(ValueError, match="labels must be integers"):
        fit_class_conditional(torch.zeros(3, 2), torch.tensor([0.0, 1.0, 2.0]), num_classes=5)
    with pytest.raises(ValueError, match="labels must hold every class"):
        fit_class_conditional(
            torch.randn(3, 2), torch.tensor([0, 1, 1]), num_classes=3, num_steps=1, quiet=True
        )


def test_features_check_their_seed():
    with pytest.raises(ValueError, match="^seed"):
        FourierFeatures(seed=2**40)


def test_the_generative_fit_on_empty_input_and_numpy_classes():
    x, y = world.sample_land_labelled(600, seed=3)
    model = fit_class_conditional(
        x, y, num_classes=5, num_components=2, num_steps=5, quiet=True, seed=0
    )
    assert model.log_joint(torch.empty(0, 2)).shape == (0, 5)
    assert model.predict(torch.empty(0, 2)).shape == (0,)
    assert model.sample_given(np.int64(2), 0).shape == (0, 2)
    assert model.sample_given(np.int64(2), 3, seed=0).shape == (3, 2)
    with pytest.raises(ValueError, match="land_mass must"):
        model.sample_given(1.5, 3)
