"""scratchae: autoencoders from scratch in NumPy, for learning and teaching backpropagation.

Every forward and backward pass is written by hand and proven right by finite-difference
gradient checks; the three autoencoders of "Applied Deep Learning, Part 3: Autoencoders"
(vanilla, denoising, sparse) port line by line from the article's Keras code.

Read the modules in this order, each a chapter:

    activations    ReLU, Sigmoid, Linear: elementwise pieces, derivative from the cache
    layers         Input, Dense: the forward/backward contract, kernel and bias gradients
    losses         BinaryCrossentropy (and the fused sigmoid + BCE), MeanSquaredError
    regularizers   l1/l2 activity penalties on a layer's output
    optimizers     SGD, Adam (Keras's form)
    models         Model, Sequential: fit, predict, evaluate, save, load_model
    gradcheck      numerical gradients and the checks that prove each backward right
    datasets       MNIST (bundled 5k subset, or the full set, downloaded and verified)
    autoencoders   the article's models, built in one line each
    plotting       the article's figures
    manifold       TSNE (exact t-SNE, scikit-learn's names): 2-D maps of the codes
    metrics        roc_curve, roc_auc_score; reconstruction error as an anomaly score
    cli            the `scratchae` command

The three autoencoders are one model trained three ways:

    vanilla    autoencoder.fit(x, x)
    denoising  autoencoder.fit(add_gaussian_noise(x, 0.4), x)
    sparse     Dense(32, activation="relu", activity_regularizer=l1(1e-5)) as the code layer
"""
__version__ = "0.1.0"
