"""The DDPM U-Net, alone and as the two tied copies its training wrapper holds."""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import layers, ops

from .common import Built

# ---------------------------------------------------------------------------------------
# examples/generative/ddpm.py


# Kernel initializer to use
def kernel_init(scale):
    scale = max(scale, 1e-10)
    return keras.initializers.VarianceScaling(scale, mode="fan_avg", distribution="uniform")


class AttentionBlock(layers.Layer):
    """Applies self-attention.

    Args:
        units: Number of units in the dense layers
        groups: Number of groups to be used for GroupNormalization layer
    """

    def __init__(self, units, groups=8, **kwargs):
        self.units = units
        self.groups = groups
        super().__init__(**kwargs)

        self.norm = layers.GroupNormalization(groups=groups)
        self.query = layers.Dense(units, kernel_initializer=kernel_init(1.0))
        self.key = layers.Dense(units, kernel_initializer=kernel_init(1.0))
        self.value = layers.Dense(units, kernel_initializer=kernel_init(1.0))
        self.proj = layers.Dense(units, kernel_initializer=kernel_init(0.0))

    def call(self, inputs):
        batch_size = ops.shape(inputs)[0]
        height = ops.shape(inputs)[1]
        width = ops.shape(inputs)[2]
        scale = ops.cast(self.units, "float32") ** (-0.5)

        inputs = self.norm(inputs)
        q = self.query(inputs)
        k = self.key(inputs)
        v = self.value(inputs)

        attn_score = ops.einsum("bhwc,bHWc->bhwHW", q, k) * scale
        attn_score = ops.reshape(attn_score, [batch_size, height, width, height * width])

        attn_score = ops.softmax(attn_score, -1)
        attn_score = ops.reshape(attn_score, [batch_size, height, width, height, width])

        proj = ops.einsum("bhwHW,bHWc->bhwc", attn_score, v)
        proj = self.proj(proj)
        return inputs + proj


class TimeEmbedding(layers.Layer):
    def __init__(self, dim, **kwargs):
        super().__init__(**kwargs)
        self.dim = dim
        self.half_dim = dim // 2
        self.emb = math.log(10000) / (self.half_dim - 1)
        self.emb = ops.exp(ops.arange(self.half_dim, dtype="float32") * -self.emb)

    def call(self, inputs):
        inputs = ops.cast(inputs, dtype="float32")
        emb = inputs[:, None] * self.emb[None, :]
        emb = ops.concatenate([ops.sin(emb), ops.cos(emb)], axis=-1)
        return emb


def ResidualBlock(width, groups=8, activation_fn=keras.activations.swish):
    def apply(inputs):
        x, t = inputs
        input_width = x.shape[3]

        if input_width == width:
            residual = x
        else:
            residual = layers.Conv2D(width, kernel_size=1, kernel_initializer=kernel_init(1.0))(x)

        temb = activation_fn(t)
        temb = layers.Dense(width, kernel_initializer=kernel_init(1.0))(temb)[:, None, None, :]

        x = layers.GroupNormalization(groups=groups)(x)
        x = activation_fn(x)
        x = layers.Conv2D(
            width, kernel_size=3, padding="same", kernel_initializer=kernel_init(1.0)
        )(x)

        x = layers.Add()([x, temb])
        x = layers.GroupNormalization(groups=groups)(x)
        x = activation_fn(x)

        x = layers.Conv2D(
            width, kernel_size=3, padding="same", kernel_initializer=kernel_init(0.0)
        )(x)
        x = layers.Add()([x, residual])
        return x

    return apply


def DownSample(width):
    def apply(x):
        x = layers.Conv2D(
            width,
            kernel_size=3,
            strides=2,
            padding="same",
            kernel_initializer=kernel_init(1.0),
        )(x)
        return x

    return apply


def UpSample(width, interpolation="nearest"):
    def apply(x):
        x = layers.UpSampling2D(size=2, interpolation=interpolation)(x)
        x = layers.Conv2D(
            width, kernel_size=3, padding="same", kernel_initializer=kernel_init(1.0)
        )(x)
        return x

    return apply


def TimeMLP(units, activation_fn=keras.activations.swish):
    def apply(inputs):
        temb = layers.Dense(units, activation=activation_fn, kernel_initializer=kernel_init(1.0))(
            inputs
        )
        temb = layers.Dense(units, kernel_initializer=kernel_init(1.0))(temb)
        return temb

    return apply


def build_model(
    img_size,
    img_channels,
    widths,
    has_attention,
    first_conv_channels,
    num_res_blocks=2,
    norm_groups=8,
    interpolation="nearest",
    activation_fn=keras.activations.swish,
):
    image_input = layers.Input(shape=(img_size, img_size, img_channels), name="image_input")
    time_input = keras.Input(shape=(), dtype="int64", name="time_input")

    x = layers.Conv2D(
        first_conv_channels,
        kernel_size=(3, 3),
        padding="same",
        kernel_initializer=kernel_init(1.0),
    )(image_input)

    temb = TimeEmbedding(dim=first_conv_channels * 4)(time_input)
    temb = TimeMLP(units=first_conv_channels * 4, activation_fn=activation_fn)(temb)

    skips = [x]

    # DownBlock
    for i in range(len(widths)):
        for _ in range(num_res_blocks):
            x = ResidualBlock(widths[i], groups=norm_groups, activation_fn=activation_fn)([x, temb])
            if has_attention[i]:
                x = AttentionBlock(widths[i], groups=norm_groups)(x)
            skips.append(x)

        if widths[i] != widths[-1]:
            x = DownSample(widths[i])(x)
            skips.append(x)

    # MiddleBlock
    x = ResidualBlock(widths[-1], groups=norm_groups, activation_fn=activation_fn)([x, temb])
    x = AttentionBlock(widths[-1], groups=norm_groups)(x)
    x = ResidualBlock(widths[-1], groups=norm_groups, activation_fn=activation_fn)([x, temb])

    # UpBlock
    for i in reversed(range(len(widths))):
        for _ in range(num_res_blocks + 1):
            x = layers.Concatenate(axis=-1)([x, skips.pop()])
            x = ResidualBlock(widths[i], groups=norm_groups, activation_fn=activation_fn)([x, temb])
            if has_attention[i]:
                x = AttentionBlock(widths[i], groups=norm_groups)(x)

        if i != 0:
            x = UpSample(widths[i], interpolation=interpolation)(x)

    # End block
    x = layers.GroupNormalization(groups=norm_groups)(x)
    x = activation_fn(x)
    x = layers.Conv2D(3, (3, 3), padding="same", kernel_initializer=kernel_init(0.0))(x)
    return keras.Model([image_input, time_input], x, name="unet")


class GaussianDiffusion:
    """Gaussian diffusion utility: the example's linear beta schedule and the forward
    process q(x_t | x_0), the part ``train_step`` uses (the reverse-process sampling
    methods are left out: nothing here samples)."""

    def __init__(self, beta_start=1e-4, beta_end=0.02, timesteps=1000):
        self.beta_start = beta_start
        self.beta_end = beta_end
        self.timesteps = timesteps

        self.betas = betas = np.linspace(beta_start, beta_end, timesteps, dtype=np.float64)
        self.num_timesteps = int(timesteps)

        alphas = 1.0 - betas
        alphas_cumprod = np.cumprod(alphas, axis=0)
        self.sqrt_alphas_cumprod = ops.convert_to_tensor(np.sqrt(alphas_cumprod), "float32")
        self.sqrt_one_minus_alphas_cumprod = ops.convert_to_tensor(
            np.sqrt(1.0 - alphas_cumprod), "float32"
        )

    def _extract(self, a, t, x_shape):
        """Extract some coefficients at specified timesteps, then reshape to
        [batch_size, 1, 1, 1, 1, ...] for broadcasting purposes."""
        batch_size = x_shape[0]
        out = ops.take(a, t)
        return ops.reshape(out, [batch_size, 1, 1, 1])

    def q_sample(self, x_start, t, noise):
        """Diffuse the data."""
        x_start_shape = ops.shape(x_start)
        return (
            self._extract(self.sqrt_alphas_cumprod, t, ops.shape(x_start)) * x_start
            + self._extract(self.sqrt_one_minus_alphas_cumprod, t, x_start_shape) * noise
        )


class DiffusionModel(keras.Model):
    def __init__(self, network, ema_network, timesteps, gdf_util, ema=0.999):
        super().__init__()
        self.network = network
        self.ema_network = ema_network
        self.timesteps = timesteps
        self.gdf_util = gdf_util
        self.ema = ema

    def train_step(self, images):
        import tensorflow as tf  # the example's train step is TensorFlow's; never run here

        # 1. Get the batch size
        batch_size = tf.shape(images)[0]

        # 2. Sample timesteps uniformly
        t = tf.random.uniform(minval=0, maxval=self.timesteps, shape=(batch_size,), dtype=tf.int64)

        with tf.GradientTape() as tape:
            # 3. Sample random noise to be added to the images in the batch
            noise = tf.random.normal(shape=tf.shape(images), dtype=images.dtype)

            # 4. Diffuse the images with noise
            images_t = self.gdf_util.q_sample(images, t, noise)

            # 5. Pass the diffused images and time steps to the network
            pred_noise = self.network([images_t, t], training=True)

            # 6. Calculate the loss
            loss = self.loss(noise, pred_noise)

        # 7. Get the gradients
        gradients = tape.gradient(loss, self.network.trainable_weights)

        # 8. Update the weights of the network
        self.optimizer.apply_gradients(zip(gradients, self.network.trainable_weights, strict=True))

        # 9. Updates the weight values for the network with EMA weights
        for weight, ema_weight in zip(self.network.weights, self.ema_network.weights, strict=True):
            ema_weight.assign(self.ema * ema_weight + (1 - self.ema) * weight)

        # 10. Return loss values
        return {"loss": loss}


# The example: 64x64 images, widths [64, 128, 256, 512] with attention at the two
# lowest resolutions, two residual blocks per level, 8 groups, 1000 timesteps.
_IMG_SIZE = 8
_TIMESTEPS = 1000


def _unet():
    return build_model(
        img_size=_IMG_SIZE,
        img_channels=3,
        widths=[8, 16],
        has_attention=[False, True],
        first_conv_channels=8,
        num_res_blocks=1,
        norm_groups=4,
        activation_fn=keras.activations.swish,
    )


def _noisy_images_and_steps(batch=8, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.standard_normal((batch, _IMG_SIZE, _IMG_SIZE, 3)).astype("float32")
    steps = rng.integers(0, _TIMESTEPS, (batch,)).astype("int64")
    return [images, steps]


def ddpm_unet() -> Built:
    """examples/generative/ddpm.py: ``build_model``'s U-Net, with the example's
    ``kernel_init(scale)`` (``VarianceScaling(max(scale, 1e-10), "fan_avg",
    "uniform")``): scale 1e-10 on every residual block's last conv, every
    ``AttentionBlock``'s output projection and the output conv, the author's choice
    that each block and the net start as (near) identity and zero. ``ResidualBlock``,
    ``DownSample``, ``UpSample`` and ``TimeMLP`` are the example's closures of
    functional layers, ``AttentionBlock`` (whose sum adds the NORMALIZED input, as in
    the example) and ``TimeEmbedding`` its Layer subclasses; two inputs, the noisy
    images and int64 time steps. Adapted: 8x8 images (the example: 64x64 flowers),
    widths [64, 128, 256, 512] -> [8, 16] with attention at the lower level, first conv
    64 -> 8 channels, one residual block per level (the example: two), 4 groups (8);
    ``tf.*`` ops rewritten with ``keras.ops``."""
    return Built(_unet(), _noisy_images_and_steps)


def ddpm_ema_forward(model, x):
    """The wrapper has no ``call``: the trained network's prediction of the noise."""
    return model.network(x, training=False)


def ddpm_ema() -> Built:
    """examples/generative/ddpm.py: the ``DiffusionModel`` wrapper (``train_step``, NO
    ``call``) holding ``network`` and ``ema_network``, two U-Nets built alike whose
    weights the example sets equal on purpose: ``ema_network.set_weights(
    network.get_weights())  # Initially the weights are the same``; its train step then
    moves the EMA copy towards the network. The U-Net is ``ddpm_unet``'s, the
    ``GaussianDiffusion`` utility only its forward process (what ``train_step`` uses)."""
    network = _unet()
    ema_network = _unet()
    ema_network.set_weights(network.get_weights())  # Initially the weights are the same

    gdf_util = GaussianDiffusion(timesteps=_TIMESTEPS)
    model = DiffusionModel(
        network=network,
        ema_network=ema_network,
        gdf_util=gdf_util,
        timesteps=_TIMESTEPS,
    )
    return Built(model, _noisy_images_and_steps, ddpm_ema_forward)
