"""A tiny configuration of every KerasHub backbone: 2 layers, hidden width 32 to 64, 32 x 32
images where the backbone allows, a vocabulary of 64. ``TINY[name]()`` returns the keyword
arguments of ``keras_hub.models.<name>`` (sub-models freshly built); ``NONE_DIMS[name]``
gives the size of the free (``None``) input dimensions where the default does not fit.

Sizes follow KerasHub's own backbone tests, shrunk; the multimodal backbones whose
encoders are optional (Gemma 3, Gemma 3n, Gemma 4, Qwen 3.5, T5Gemma 2) are built as text
models.
"""

from __future__ import annotations

import keras_hub
import numpy as np

M = keras_hub.models
VOCAB, HIDDEN, INTERMEDIATE, LAYERS, HEADS = 64, 32, 64, 2, 2
IMAGE = (32, 32, 3)


def _bert_like(**extra):
    return lambda: dict(
        vocabulary_size=VOCAB, num_layers=LAYERS, num_heads=HEADS, hidden_dim=HIDDEN,
        intermediate_dim=INTERMEDIATE, **extra,
    )  # fmt: skip


def _llama_like(**extra):
    return lambda: dict(
        vocabulary_size=VOCAB, num_layers=LAYERS, num_query_heads=4, num_key_value_heads=2,
        hidden_dim=HIDDEN, intermediate_dim=INTERMEDIATE, **extra,
    )  # fmt: skip


def _resnet(filters=(64, 64), strides=(1, 2), image_shape=IMAGE):
    return dict(
        input_conv_filters=[64], input_conv_kernel_sizes=[3],
        stackwise_num_filters=list(filters), stackwise_num_blocks=[1] * len(filters),
        stackwise_num_strides=list(strides), block_type="basic_block",
        image_shape=image_shape,
    )  # fmt: skip


def _resnet_encoder(filters, strides):
    """A ResNet as another backbone's image encoder (which sets the image shape)."""
    return M.ResNetBackbone(**_resnet(filters, strides, image_shape=(None, None, 3)))


def _mit():
    return dict(
        layerwise_depths=[1, 1], num_layers=2, layerwise_num_heads=[1, 2],
        layerwise_sr_ratios=[4, 2], max_drop_path_rate=0.0, layerwise_patch_sizes=[7, 3],
        layerwise_strides=[4, 2], image_shape=IMAGE, hidden_dims=[HIDDEN, 64],
    )  # fmt: skip


def _dinov2(image_shape=(28, 28, 3), **extra):
    return M.DINOV2Backbone(
        patch_size=14, num_layers=LAYERS, hidden_dim=HIDDEN, num_heads=HEADS,
        intermediate_dim=INTERMEDIATE, image_shape=image_shape,
        position_embedding_shape=image_shape, **extra,
    )  # fmt: skip


def _contrastive(vision, text, **extra):
    """CLIP, MetaCLIP 2, SigLIP: a ViT and a text transformer."""
    return lambda: dict(
        vision_encoder=vision(8, HIDDEN, LAYERS, HEADS, INTERMEDIATE, image_shape=IMAGE),
        text_encoder=text(VOCAB, HIDDEN, HIDDEN, LAYERS, HEADS, INTERMEDIATE,
                          max_sequence_length=16),
        **extra,
    )  # fmt: skip


def _vae():
    from keras_hub.src.models.vae.vae_backbone import VAEBackbone

    # 32 filters: its group normalizations have 32 groups.
    return VAEBackbone([32, 32, 32, 32], [1, 1, 1, 1], [32, 32, 32, 32], [1, 1, 1, 1],
                       sampler_method="mode", name="vae")  # fmt: skip


def _t5gemma(**extra):
    half = dict(hidden_dim=HIDDEN, intermediate_dim=INTERMEDIATE, num_layers=LAYERS,
                num_attention_heads=4, num_key_value_heads=2, head_dim=8,
                layer_types=["sliding_attention", "full_attention"])  # fmt: skip
    return lambda: dict(
        vocabulary_size=VOCAB, sliding_window=8, cross_attention_hidden_size=HIDDEN,
        dropout_rate=0.0, attention_dropout=0.0,
        **{f"encoder_{k}": v for k, v in half.items()},
        **{f"decoder_{k}": v for k, v in half.items()}, **extra,
    )  # fmt: skip


def _smollm():
    return dict(
        vocabulary_size=VOCAB, hidden_dim=HIDDEN, intermediate_dim=INTERMEDIATE,
        num_layers=LAYERS, num_attention_heads=4, num_key_value_heads=2,
        attention_bias=False, attention_dropout=0.0, rope_layer_enabled_list=[True, True],
        layer_types=["attention", "attention"], mlp_bias=False, layer_norm_epsilon=1e-5,
        max_position_embeddings=64, rope_theta=10000.0, partial_rotary_factor=1.0,
    )  # fmt: skip


def _qwen3_5(**extra):
    return lambda: dict(
        vocabulary_size=VOCAB, num_layers=LAYERS, num_query_heads=4, num_key_value_heads=2,
        head_dim=8, hidden_dim=HIDDEN, layer_types=["linear_attention", "full_attention"],
        linear_num_key_heads=2, linear_num_value_heads=4, linear_key_head_dim=8,
        linear_value_head_dim=8, linear_conv_kernel_dim=4, **extra,
    )  # fmt: skip


def _blip2():
    from keras_hub.src.models.blip2.blip2_custom_opt import BLIP2CustomOPT
    from keras_hub.src.models.blip2.blip2_qformer import BLIP2QFormer
    from keras_hub.src.models.blip2.blip2_vision_encoder import BLIP2VisionEncoder

    return dict(
        vision_encoder=BLIP2VisionEncoder(
            image_size=32, patch_size=8, num_layers=LAYERS, num_heads=HEADS,
            hidden_dim=HIDDEN, intermediate_dim=INTERMEDIATE, use_patch_bias=True,
            use_class_token=True, use_mha_bias=True, use_mlp_bias=True, dropout_rate=0.0,
            layer_norm_epsilon=1e-6, initializer_range=0.02,
        ),
        qformer=BLIP2QFormer(
            num_query_tokens=4, num_layers=LAYERS, num_heads=HEADS, hidden_dim=HIDDEN,
            intermediate_dim=INTERMEDIATE, vision_dim=HIDDEN, cross_attention_frequency=1,
            dropout=0.0, layer_norm_epsilon=1e-6,
        ),
        language_model=BLIP2CustomOPT(
            vocabulary_size=VOCAB, num_layers=LAYERS, num_heads=HEADS, hidden_dim=HIDDEN,
            intermediate_dim=INTERMEDIATE, num_query_tokens=4, qformer_hidden_dim=HIDDEN,
            max_sequence_length=32, dropout=0.0, language_projection=None,
        ),
    )  # fmt: skip


def _d_fine():
    hgnet = M.HGNetV2Backbone(
        stem_channels=[3, 16, 16], stackwise_stage_filters=[[16, 16, 32, 1, 1, 3],
        [32, 16, 64, 1, 1, 3]], apply_downsample=[False, True],
        use_lightweight_conv_block=[False, False], depths=[1, 1], hidden_sizes=[32, 64],
        embedding_size=16, use_learnable_affine_block=True, hidden_act="relu",
        image_shape=(None, None, 3), out_features=["stage1", "stage2"],
    )  # fmt: skip
    return dict(
        backbone=hgnet, decoder_in_channels=[HIDDEN, HIDDEN], encoder_hidden_dim=HIDDEN,
        num_denoising=0, num_labels=4, hidden_dim=HIDDEN, learn_initial_query=False,
        num_queries=8, anchor_image_size=(32, 32), feat_strides=[4, 8],
        num_feature_levels=2, encoder_in_channels=[32, 64], encode_proj_layers=[1],
        num_attention_heads=HEADS, encoder_ffn_dim=INTERMEDIATE, num_encoder_layers=1,
        hidden_expansion=0.5, depth_multiplier=0.5, eval_idx=-1,
        num_decoder_layers=LAYERS, decoder_attention_heads=HEADS,
        decoder_ffn_dim=INTERMEDIATE, decoder_n_points=[2, 2], lqe_hidden_dim=16,
        num_lqe_layers=2, out_features=["stage1", "stage2"], image_shape=IMAGE, seed=0,
    )  # fmt: skip


def _sam():
    from keras_hub.src.models.vit_det.vit_det_backbone import ViTDetBackbone

    return dict(
        image_encoder=ViTDetBackbone(
            hidden_size=HIDDEN, num_layers=LAYERS, intermediate_dim=INTERMEDIATE,
            num_heads=HEADS, global_attention_layer_indices=[1], patch_size=4,
            num_output_channels=16, window_size=4, image_shape=IMAGE,
        ),
        prompt_encoder=keras_hub.layers.SAMPromptEncoder(
            hidden_size=16, image_embedding_size=(8, 8), input_image_size=(32, 32),
            mask_in_channels=16,
        ),
        mask_decoder=keras_hub.layers.SAMMaskDecoder(
            num_layers=LAYERS, hidden_size=HIDDEN, intermediate_dim=INTERMEDIATE,
            num_heads=HEADS, embedding_dim=16, num_multimask_outputs=3, iou_head_depth=2,
            iou_head_hidden_dim=16,
        ),
    )  # fmt: skip


def _sam3():
    L = keras_hub.layers
    image = (28, 28, 3)  # a multiple of the patch size 14
    return dict(
        vision_encoder=L.SAM3VisionEncoder(
            image_shape=image, patch_size=14, num_layers=LAYERS, hidden_dim=HIDDEN,
            intermediate_dim=INTERMEDIATE, num_heads=HEADS, fpn_hidden_dim=HIDDEN,
            fpn_scale_factors=[4.0, 2.0, 1.0, 0.5], pretrain_image_shape=(42, 42, 3),
            window_size=2, global_attn_indexes=[1],
        ),
        text_encoder=L.SAM3TextEncoder(
            vocabulary_size=VOCAB, embedding_dim=HIDDEN, hidden_dim=HIDDEN,
            num_layers=LAYERS, num_heads=HEADS, intermediate_dim=INTERMEDIATE,
        ),
        geometry_encoder=L.SAM3GeometryEncoder(
            num_layers=LAYERS, hidden_dim=HIDDEN, intermediate_dim=INTERMEDIATE,
            num_heads=HEADS, roi_size=7,
        ),
        detr_encoder=L.SAM3DetrEncoder(
            num_layers=LAYERS, hidden_dim=HIDDEN, intermediate_dim=INTERMEDIATE,
            num_heads=HEADS,
        ),
        detr_decoder=L.SAM3DetrDecoder(
            image_shape=image, patch_size=14, num_layers=LAYERS, hidden_dim=HIDDEN,
            intermediate_dim=INTERMEDIATE, num_heads=HEADS, num_queries=8,
        ),
        mask_decoder=L.SAM3MaskDecoder(num_upsampling_stages=3, hidden_dim=HIDDEN,
                                       num_heads=HEADS),
    )  # fmt: skip


TINY = {
    "AlbertBackbone": _bert_like(embedding_dim=16, max_sequence_length=16),
    "BASNetBackbone": lambda: dict(
        image_encoder=_resnet_encoder((64, 32, 32, 32), (1, 2, 2, 2)),
        num_classes=1, image_shape=IMAGE,
    ),
    "BLIP2Backbone": _blip2,
    "BartBackbone": _bert_like(max_sequence_length=16),
    "BertBackbone": _bert_like(max_sequence_length=16),
    "BloomBackbone": _bert_like(),
    "CLIPBackbone": _contrastive(M.CLIPVisionEncoder, M.CLIPTextEncoder, projection_dim=HIDDEN),
    "CSPNetBackbone": lambda: dict(
        stem_filters=16, stem_kernel_size=3, stem_strides=1, stackwise_depth=[1, 1],
        stackwise_strides=2, stackwise_num_filters=[HIDDEN, 64], block_type="dark_block",
        stage_type="csp", stem_padding="same", down_growth=True, bottle_ratio=[0.5, 1.0],
        block_ratio=[1.0, 0.5], expand_ratio=[2.0, 1.0], image_shape=IMAGE,
    ),
    "DFineBackbone": _d_fine,
    "DINOV2Backbone": lambda: dict(
        patch_size=14, num_layers=LAYERS, hidden_dim=HIDDEN, num_heads=HEADS,
        intermediate_dim=INTERMEDIATE, image_shape=(28, 28, 3),
        position_embedding_shape=(28, 28, 3),
    ),
    "DINOV3Backbone": lambda: dict(
        patch_size=16, num_layers=LAYERS, hidden_dim=HIDDEN, num_heads=HEADS,
        intermediate_dim=INTERMEDIATE, image_shape=IMAGE,
    ),
    "DebertaV3Backbone": _bert_like(max_sequence_length=16, bucket_size=8),
    "DeepLabV3Backbone": lambda: dict(
        image_encoder=_resnet_encoder((64, 32, 32), (1, 2, 2)),
        low_level_feature_key="P2", spatial_pyramid_pooling_key="P4",
        dilation_rates=[1, 2], upsampling_size=4, projection_filters=16, image_shape=IMAGE,
    ),
    "DeiTBackbone": lambda: dict(
        image_shape=IMAGE, patch_size=8, num_layers=LAYERS, num_heads=HEADS,
        hidden_dim=HIDDEN, intermediate_dim=INTERMEDIATE,
    ),
    "DenseNetBackbone": lambda: dict(
        stackwise_num_repeats=[1, 1], growth_rate=16, image_shape=IMAGE
    ),
    "DepthAnythingBackbone": lambda: dict(
        image_encoder=_dinov2(image_shape=(56, 56, 3), apply_layernorm=True),
        reassemble_factors=[2, 1], neck_hidden_dims=[16, 32], fusion_hidden_dim=HIDDEN,
        head_hidden_dim=16, head_in_index=-1, feature_keys=["stage1", "stage2"],
    ),
    "DistilBertBackbone": _bert_like(max_sequence_length=16),
    "ESM2Backbone": _bert_like(),
    "ESMBackbone": _bert_like(),
    "EdRecBackbone": lambda: dict(
        vocab_size=VOCAB, num_layers_enc=LAYERS, num_layers_dec=LAYERS, hidden_dim=HIDDEN,
        intermediate_dim=INTERMEDIATE, num_heads=HEADS,
    ),
    "EfficientNetBackbone": lambda: dict(
        stackwise_kernel_sizes=[3, 3], stackwise_num_repeats=[1, 1],
        stackwise_input_filters=[16, 24], stackwise_output_filters=[24, HIDDEN],
        stackwise_expansion_ratios=[1, 4], stackwise_squeeze_and_excite_ratios=[0.0, 0.25],
        stackwise_strides=[1, 2], stackwise_block_types=["fused", "unfused"],
        stackwise_force_input_filters=[0, 0], stackwise_nores_option=[False, False],
        width_coefficient=1.0, depth_coefficient=1.0, input_shape=IMAGE, num_features=64,
    ),
    "ElectraBackbone": lambda: dict(
        vocab_size=VOCAB, num_layers=LAYERS, num_heads=HEADS, hidden_dim=HIDDEN,
        embedding_dim=16, intermediate_dim=INTERMEDIATE, max_sequence_length=16,
    ),
    "FNetBackbone": lambda: dict(
        vocabulary_size=VOCAB, num_layers=LAYERS, hidden_dim=HIDDEN,
        intermediate_dim=INTERMEDIATE, max_sequence_length=16,
    ),
    "FalconBackbone": lambda: dict(
        vocabulary_size=VOCAB, num_layers=LAYERS, num_attention_heads=4, hidden_dim=HIDDEN,
        intermediate_dim=INTERMEDIATE,
    ),
    "FluxBackbone": lambda: dict(
        input_channels=16, hidden_size=HIDDEN, mlp_ratio=2.0, num_heads=HEADS, depth=1,
        depth_single_blocks=1, axes_dim=[4, 6, 6], theta=10_000, use_bias=True,
        guidance_embed=True, image_shape=(16, 16), text_shape=(8, HIDDEN),
        image_ids_shape=(16, 3), text_ids_shape=(8, 3), y_shape=(HIDDEN,),
    ),
    "GPT2Backbone": _bert_like(max_sequence_length=16),
    "GPTNeoXBackbone": _bert_like(max_sequence_length=16),
    "Gemma3Backbone": lambda: dict(
        vocabulary_size=VOCAB, image_size=16, num_layers=LAYERS, num_query_heads=2,
        num_key_value_heads=1, hidden_dim=HIDDEN, intermediate_dim=INTERMEDIATE,
        head_dim=16, use_post_ffw_norm=True, use_post_attention_norm=True,
        use_sliding_window_attention=True, sliding_window_size=8,
    ),
    "Gemma3nBackbone": lambda: dict(
        text_vocab_size=VOCAB, text_hidden_size=HIDDEN, num_hidden_layers=LAYERS,
        pad_token_id=0, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
        intermediate_size=[INTERMEDIATE] * LAYERS, hidden_activation="gelu_approximate",
        layer_types=["sliding_attention", "full_attention"], sliding_window=4,
        rope_theta=10000.0, max_position_embeddings=64, vocab_size_per_layer_input=VOCAB,
        hidden_size_per_layer_input=8, altup_num_inputs=2, laurel_rank=4,
    ),
    "Gemma4Backbone": lambda: dict(
        vocabulary_size=VOCAB, image_size=16, num_layers=LAYERS, num_query_heads=2,
        num_key_value_heads=1, hidden_dim=HIDDEN, intermediate_dim=INTERMEDIATE,
        head_dim=16, sliding_window_size=8, sliding_window_pattern=2,
    ),
    "GemmaBackbone": lambda: dict(
        vocabulary_size=VOCAB, num_layers=LAYERS, num_query_heads=4, num_key_value_heads=1,
        hidden_dim=HIDDEN, intermediate_dim=INTERMEDIATE, head_dim=8,
    ),
    "GptOssBackbone": _llama_like(num_experts=2, top_k=2, sliding_window=4),
    "HGNetV2Backbone": lambda: dict(
        depths=[1, 1], embedding_size=16, hidden_sizes=[HIDDEN, 64], stem_channels=[3, 16, 16],
        hidden_act="relu", use_learnable_affine_block=False,
        stackwise_stage_filters=[[16, 16, HIDDEN, 1, 1, 3], [HIDDEN, 16, 64, 1, 1, 3]],
        apply_downsample=[False, True], use_lightweight_conv_block=[False, False],
        image_shape=IMAGE,
    ),
    "Llama3Backbone": _llama_like(),
    "LlamaBackbone": _llama_like(),
    "MetaCLIP2Backbone": _contrastive(
        M.MetaCLIP2VisionEncoder, M.MetaCLIP2TextEncoder, projection_dim=HIDDEN
    ),
    "MiTBackbone": _mit,
    "MistralBackbone": _llama_like(sliding_window=4),
    "MixtralBackbone": _llama_like(num_experts=2, top_k=2, sliding_window=4),
    "MobileNetBackbone": lambda: dict(
        stackwise_expansion=[[16, 32], [64]], stackwise_num_blocks=[2, 1],
        stackwise_num_filters=[[16, 24], [HIDDEN]], stackwise_kernel_size=[[3, 3], [5]],
        stackwise_num_strides=[[2, 1], [2]], stackwise_se_ratio=[[None, None], [0.25]],
        stackwise_activation=[["relu", "relu"], ["hard_swish"], ["hard_swish"]],
        stackwise_padding=[[1, 1], [2]], output_num_filters=64, input_activation="hard_swish",
        output_activation="hard_swish", input_num_filters=16, image_shape=IMAGE,
        depthwise_filters=8, depthwise_stride=2, depthwise_residual=False,
        squeeze_and_excite=0.5, last_layer_filter=64,
    ),
    "MobileNetV5Backbone": lambda: dict(
        stackwise_block_types=[["er"], ["uir", "uir"]], stackwise_num_blocks=[1, 2],
        stackwise_num_filters=[[24], [HIDDEN, HIDDEN]], stackwise_strides=[[2], [2, 1]],
        stackwise_act_layers=[["relu"], ["relu", "relu"]],
        stackwise_exp_ratios=[[4.0], [4.0, 4.0]], stackwise_se_ratios=[[0.0], [0.0, 0.0]],
        stackwise_dw_kernel_sizes=[[0], [5, 5]], stackwise_dw_start_kernel_sizes=[[0], [0, 0]],
        stackwise_dw_end_kernel_sizes=[[0], [0, 0]], stackwise_exp_kernel_sizes=[[3], [0, 0]],
        stackwise_pw_kernel_sizes=[[1], [0, 0]], stackwise_num_heads=[[0], [0, 0]],
        stackwise_key_dims=[[0], [0, 0]], stackwise_value_dims=[[0], [0, 0]],
        stackwise_kv_strides=[[0], [0, 0]], stackwise_use_cpe=[[False], [False, False]],
        stem_size=16, num_features=64, use_msfa=False, image_shape=IMAGE,
    ),
    "MoonshineBackbone": lambda: dict(
        vocabulary_size=VOCAB, filter_dim=HIDDEN, encoder_num_layers=LAYERS,
        decoder_num_layers=LAYERS, hidden_dim=HIDDEN, intermediate_dim=INTERMEDIATE,
        encoder_num_heads=HEADS, decoder_num_heads=HEADS, max_position_embeddings=64,
    ),
    "OPTBackbone": _bert_like(max_sequence_length=16),
    "PARSeqBackbone": lambda: dict(
        image_encoder=M.ViTBackbone(
            image_shape=(32, 64, 3), patch_size=(8, 8), num_layers=LAYERS, num_heads=HEADS,
            hidden_dim=HIDDEN, mlp_dim=INTERMEDIATE, use_class_token=False,
            name="image_encoder",
        ),
        vocabulary_size=VOCAB, max_label_length=8, decoder_hidden_dim=HIDDEN,
        num_decoder_layers=1, num_decoder_heads=HEADS, decoder_mlp_dim=INTERMEDIATE,
        dropout_rate=0.0, attention_dropout=0.0,
    ),
    "PaliGemmaBackbone": lambda: dict(
        vocabulary_size=VOCAB, image_size=16, num_layers=LAYERS, num_query_heads=2,
        num_key_value_heads=1, hidden_dim=HIDDEN, intermediate_dim=INTERMEDIATE,
        head_dim=16, vit_patch_size=4, vit_num_heads=HEADS, vit_hidden_dim=HIDDEN,
        vit_num_layers=LAYERS, vit_intermediate_dim=INTERMEDIATE,
    ),
    "Phi3Backbone": _llama_like(),
    "Qwen2Backbone": _llama_like(),
    "Qwen3Backbone": _llama_like(head_dim=8),
    "Qwen3MoeBackbone": _llama_like(head_dim=8, moe_intermediate_dim=HIDDEN, num_experts=4,
                                    top_k=2),
    "Qwen3_5Backbone": _qwen3_5(intermediate_dim=INTERMEDIATE),
    "Qwen3_5MoeBackbone": _qwen3_5(
        moe_intermediate_dim=HIDDEN, shared_expert_intermediate_size=HIDDEN, num_experts=4,
        top_k=2,
    ),
    "QwenBackbone": _llama_like(),
    "QwenMoeBackbone": _llama_like(
        moe_intermediate_dim=HIDDEN, shared_expert_intermediate_dim=INTERMEDIATE,
        num_experts=4, top_k=2,
    ),
    "RWKV7Backbone": lambda: dict(
        hidden_size=HIDDEN, head_size=8, num_layers=LAYERS, vocabulary_size=VOCAB,
        intermediate_dim=INTERMEDIATE, gate_lora=16, mv_lora=8, aaa_lora=8, decay_lora=8,
    ),
    "ResNetBackbone": _resnet,
    "RetinaNetBackbone": lambda: dict(
        image_encoder=_resnet_encoder((64, 32, 32, 32), (1, 2, 2, 2)),
        min_level=3, max_level=5, use_p5=False, image_shape=IMAGE,
    ),
    "RobertaBackbone": _bert_like(max_sequence_length=16),
    "RoformerV2Backbone": _bert_like(head_size=16),
    "SAM3PromptableConceptBackbone": _sam3,
    "SAMBackbone": _sam,
    "SegFormerBackbone": lambda: dict(
        image_encoder=M.MiTBackbone(**_mit()), projection_filters=HIDDEN
    ),
    "SigLIPBackbone": _contrastive(M.SigLIPVisionEncoder, M.SigLIPTextEncoder),
    "SmolLM3Backbone": _smollm,
    "SmolLMBackbone": _smollm,
    "StableDiffusion3Backbone": lambda: dict(
        mmdit_patch_size=2, mmdit_hidden_dim=HIDDEN, mmdit_num_layers=LAYERS,
        mmdit_num_heads=HEADS, mmdit_position_size=16, mmdit_qk_norm=None,
        mmdit_dual_attention_indices=None, vae=_vae(),
        clip_l=M.CLIPTextEncoder(VOCAB, HIDDEN, HIDDEN, LAYERS, HEADS, INTERMEDIATE,
                                 "quick_gelu", -2, name="clip_l"),
        clip_g=M.CLIPTextEncoder(VOCAB, 64, 64, LAYERS, HEADS, 128, "gelu", -2,
                                 name="clip_g"),
        image_shape=IMAGE,
    ),
    "SwinTransformerBackbone": lambda: dict(
        image_shape=IMAGE, embed_dim=HIDDEN, depths=(1, 1), num_heads=(2, 4),
        window_size=4, drop_path=0.0,
    ),
    "T5Backbone": _bert_like(),
    "T5Gemma2Backbone": _t5gemma(),
    "T5GemmaBackbone": _t5gemma(),
    "VGGBackbone": lambda: dict(
        stackwise_num_repeats=[1, 1], stackwise_num_filters=[16, HIDDEN], image_shape=IMAGE
    ),
    "ViTBackbone": lambda: dict(
        image_shape=IMAGE, patch_size=8, num_layers=LAYERS, num_heads=HEADS,
        hidden_dim=HIDDEN, mlp_dim=INTERMEDIATE,
    ),
    "ViTDetBackbone": lambda: dict(
        hidden_size=HIDDEN, num_layers=LAYERS, intermediate_dim=INTERMEDIATE,
        num_heads=HEADS, global_attention_layer_indices=[1], patch_size=4,
        num_output_channels=16, window_size=4, image_shape=IMAGE,
    ),
    "VideoPrismBackbone": lambda: dict(
        num_frames=2, patch_size=8, hidden_dim=HIDDEN, intermediate_dim=INTERMEDIATE,
        num_heads=HEADS, num_spatial_layers=1, num_temporal_layers=1,
        num_auxiliary_layers=1, image_shape=IMAGE,
    ),
    "WhisperBackbone": _bert_like(
        num_mels=16, max_encoder_sequence_length=32, max_decoder_sequence_length=16
    ),
    "XLMRobertaBackbone": _bert_like(max_sequence_length=16),
    "XLNetBackbone": _bert_like(),
    "XceptionBackbone": lambda: dict(
        stackwise_conv_filters=[[16, HIDDEN], [64, 64], [64, 64]],
        stackwise_pooling=[False, True, False], image_shape=IMAGE,
    ),
}  # fmt: skip

# Inputs whose free (``None``) dimensions, other than the batch, are not 8: each input's
# shape after the batch, ``None`` where a size is to be filled in.
INPUT_SHAPES = {
    "MoonshineBackbone": {  # audio: a stride-64 conv and two stride-3 convs
        "encoder_input_values": (1600, 1), "encoder_padding_mask": (1600,),
    },
    "SAMBackbone": {"points": (1, 2), "labels": (1,), "boxes": (1, 2, 2),
                    "masks": (0, 32, 32, 1)},  # no mask prompt, as in KerasHub's test
    "SAM3PromptableConceptBackbone": {"boxes": (1, 5), "box_labels": (1,),
                                      "token_ids": (32,), "padding_mask": (32,)},
    "SigLIPBackbone": {"token_ids": (16,)},  # its text position embedding is full length
}  # fmt: skip


def _sam3_boxes(shape, rng):
    """One box per image: (its batch index, cx, cy, w, h), coordinates in [0, 1]."""
    boxes = rng.uniform(0.2, 0.6, shape).astype("float32")
    boxes[..., 0] = np.arange(shape[0])[:, None]
    return boxes


# Inputs that carry indices or coordinates, not free values: how to make them, given
# the shape and a NumPy random generator.
INPUT_VALUES = {"SAM3PromptableConceptBackbone": {"boxes": _sam3_boxes}}
