"""The article's three autoencoders: layers, activations, the code layer's penalty, and the
encoder/decoder that share the model's weights."""
import numpy as np
import pytest

from scratchae import autoencoders
from scratchae.activations import ReLU, Sigmoid
from scratchae.losses import BinaryCrossentropy
from scratchae.optimizers import Adam
from scratchae.regularizers import L1


def dense_layers(model):
    return [l for l in model.layers if hasattr(l, "units")]


@pytest.mark.parametrize("build, units", [
    (lambda: autoencoders.deep(seed=0), [128, 32, 128, 784]),
    (lambda: autoencoders.shallow(seed=0), [32, 784]),
    (lambda: autoencoders.sparse(seed=0), [32, 784]),
])
def test_the_articles_layers_and_activations(build, units):
    ae = build()
    layers = dense_layers(ae.model)
    assert [l.units for l in layers] == units
    assert [type(l.activation) for l in layers] == [ReLU] * (len(units) - 1) + [Sigmoid]
    assert ae.model.input_dim == 784
    assert isinstance(ae.model.optimizer, Adam) and isinstance(ae.model.loss, BinaryCrossentropy)
    assert ae.model.fused                      # the library's own sigmoid + BCE train on logits


def test_only_the_sparse_models_code_layer_has_the_articles_l1():
    for ae in (autoencoders.deep(seed=0), autoencoders.shallow(seed=0)):
        assert all(l.activity_regularizer is None for l in dense_layers(ae.model))
    code, out = dense_layers(autoencoders.sparse(seed=0).model)
    assert isinstance(code.activity_regularizer, L1) and code.activity_regularizer.l1 == 1e-5
    assert out.activity_regularizer is None
    assert autoencoders.ARTICLE["sparse"]["l1"] == 1e-5          # the article's l1(10e-6)


def test_encoder_and_decoder_share_the_models_layers_and_compose_to_it():
    ae = autoencoders.deep(hidden_size=16, code_size=4, input_dim=20, seed=3)
    x = np.random.default_rng(0).uniform(0, 1, (5, 20)).astype(np.float32)
    code = ae.encoder.predict(x)
    assert code.shape == (5, 4)
    np.testing.assert_array_equal(ae.decoder.predict(code), ae.model.predict(x))
    model_layers = dense_layers(ae.model)
    assert dense_layers(ae.encoder) == model_layers[:2] and dense_layers(ae.decoder) == model_layers[2:]


def test_the_same_seed_gives_the_same_weights_and_another_seed_others():
    a, b, c = (autoencoders.shallow(code_size=3, input_dim=10, seed=s).model for s in (7, 7, 8))
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(a.get_weights()[0], c.get_weights()[0])


def test_the_articles_recipes():
    assert autoencoders.ARTICLE == {"vanilla": {"epochs": 3}, "shallow": {"epochs": 5},
                                    "denoising": {"epochs": 10, "noise_factor": 0.4},
                                    "sparse": {"epochs": 20, "l1": 1e-5}}


def test_one_name_per_model_and_deep_is_an_alias_of_vanilla():
    assert autoencoders.deep is autoencoders.vanilla
    names = [b(seed=0).model.name for b in (autoencoders.vanilla, autoencoders.shallow, autoencoders.sparse)]
    assert names == ["vanilla_autoencoder", "shallow_autoencoder", "sparse_autoencoder"]


def test_the_models_beyond_the_article_tied_and_contractive():
    from scratchae.contractive import DEFAULT_LAM, ContractiveDense
    from scratchae.tied import DenseTranspose

    tied = autoencoders.tied(seed=0)
    code, out = dense_layers(tied.model)
    assert [code.units, out.units] == [32, 784] and isinstance(out, DenseTranspose)
    assert [type(code.activation), type(out.activation)] == [ReLU, Sigmoid]
    assert out.params["kernel"] is code.params["kernel"]          # one kernel, used twice
    assert tied.model.count_params() == 784 * 32 + 32 + 784
    assert tied.model.name == "tied_autoencoder" and not tied.model.fused   # its own sigmoid + BCE

    cae = autoencoders.contractive(seed=0)
    code, out = dense_layers(cae.model)
    assert isinstance(code, ContractiveDense) and code.lam == DEFAULT_LAM and type(out.activation) is Sigmoid
    assert cae.model.name == "contractive_autoencoder" and cae.model.fused
    assert cae.encoder.layers[-1] is code and cae.decoder.layers[-1] is out

    assert autoencoders.MORE == {"tied": {"epochs": 5}, "contractive": {"epochs": 20, "lam": DEFAULT_LAM},
                                 "vae": {"epochs": 10, "batch_size": 128, "latent_dim": 20, "hidden": 400,
                                         "beta": 1.0}}
    assert autoencoders.RECIPES == {**autoencoders.ARTICLE, **autoencoders.MORE, **autoencoders.CONV_RECIPES}
    a, b = autoencoders.tied(code_size=3, input_dim=10, seed=7), autoencoders.tied(code_size=3, input_dim=10, seed=7)
    for wa, wb in zip(a.model.get_weights(), b.model.get_weights()):
        np.testing.assert_array_equal(wa, wb)
