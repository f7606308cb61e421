"""Each transformer method equals a literal, naive re-derivation of its authors' published code (issue 21,
item 3), on the same random-weight model and input. The references read the attention the way the
authors' code does, through the model's own non-fused path (timm's ``attn_drop`` sees the probabilities;
a tensor hook keeps their gradient, as Chefer et al.'s ``save_attn_gradients``), not through attribkit's
recording, so the two routes check each other."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import timm
import torch
import torch.nn.functional as F
from vit_families import build, inputs

from attribkit.transformers import AttentionFlow, AttentionRollout, GradientRollout, LeGrad

#: Largest differences measured (float32, random weights), kept for the closing note of issue 21.
TOLERANCE = dict(rtol=1e-5, atol=1e-6)


def hooked(model):
    """The authors' access: ``A`` of every block from the non-fused path, ``∇A`` from a tensor hook."""
    maps, grads = {}, {}
    for index, block in enumerate(model.blocks):
        block.attn.fused_attn = False

        def save(_m, _i, out, index=index):
            maps[index] = out
            if out.requires_grad:
                out.register_hook(lambda g, index=index: grads.__setitem__(index, g))

        block.attn.attn_drop.register_forward_hook(save)
    return maps, grads


def head_averaged_attention(model, x):
    """``[blocks, T, T]`` of one image, heads averaged as the authors' notebook does."""
    maps, _ = hooked(model)
    with torch.no_grad():
        model(x)
    att_mat = np.stack([maps[i][0].double().numpy() for i in range(len(maps))])
    return att_mat.sum(axis=1) / att_mat.shape[1]


def upsample(tokens, side, grid):
    return F.interpolate(torch.as_tensor(tokens, dtype=torch.float32).reshape(1, 1, grid, grid), size=(side, side),
                         mode="bilinear", align_corners=False)


# --- Abnar & Zuidema, samiraabnar/attention_flow: compute_joint_attention (heads averaged first) ---------

def abnar_rollout(att_mat, add_residual=True):
    if add_residual:
        residual_att = np.eye(att_mat.shape[1])[None, ...]
        aug_att_mat = att_mat + residual_att
        aug_att_mat = aug_att_mat / aug_att_mat.sum(axis=-1)[..., None]
    else:
        aug_att_mat = att_mat
    joint_attentions = np.zeros(aug_att_mat.shape)
    layers = joint_attentions.shape[0]
    joint_attentions[0] = aug_att_mat[0]
    for i in np.arange(1, layers):
        joint_attentions[i] = aug_att_mat[i].dot(joint_attentions[i - 1])
    return joint_attentions


@pytest.mark.parametrize("family,prefix", [("timm_vit", 1), ("timm_deit_distilled", 2)])
def test_rollout_equals_the_authors_joint_attention(family, prefix):
    model, x = build(family), inputs(family, batch=1)
    ours = AttentionRollout(model).attribute(x)
    theirs = abnar_rollout(head_averaged_attention(model, x))[-1][0, prefix:]
    torch.testing.assert_close(ours, upsample(theirs, 224, 14), **TOLERANCE)


# --- jacobgil/vit-explain: rollout with head fusion and discard ratio (batch of one) --------------------

def vit_explain_rollout(attentions, discard_ratio, head_fusion):
    result = torch.eye(attentions[0].size(-1))
    with torch.no_grad():
        for attention in attentions:
            if head_fusion == "mean":
                attention_heads_fused = attention.mean(axis=1)
            elif head_fusion == "max":
                attention_heads_fused = attention.max(axis=1)[0]
            elif head_fusion == "min":
                attention_heads_fused = attention.min(axis=1)[0]
            flat = attention_heads_fused.view(attention_heads_fused.size(0), -1)
            _, indices = flat.topk(int(flat.size(-1) * discard_ratio), -1, False)
            indices = indices[indices != 0]
            flat[0, indices] = 0
            I = torch.eye(attention_heads_fused.size(-1))  # noqa: E741
            a = (attention_heads_fused + 1.0 * I) / 2
            # vit-explain divides by a.sum(dim=-1) without keepdim, which broadcasts over columns: the row
            # normalisation of Abnar & Zuidema's code is what is meant (identical when nothing is discarded).
            a = a / a.sum(dim=-1, keepdim=True)
            result = torch.matmul(a, result)
    return result[0, 0, 1:]


@pytest.mark.parametrize("head_fusion,discard_ratio", [("mean", 0.0), ("max", 0.9), ("min", 0.5)])
def test_rollout_options_equal_vit_explain(head_fusion, discard_ratio):
    model, x = build("timm_vit"), inputs("timm_vit", batch=1)
    ours = AttentionRollout(model, head_fusion=head_fusion, discard_ratio=discard_ratio).attribute(x)
    maps, _ = hooked(model)
    with torch.no_grad():
        model(x)
    theirs = vit_explain_rollout([maps[i] for i in range(len(maps))], discard_ratio, head_fusion)
    torch.testing.assert_close(ours, upsample(theirs, 224, 14), **TOLERANCE)


# --- Chefer et al. ICCV 2021, Transformer-MM-Explainability ViT notebook: generate_relevance -------------

def avg_heads(cam, grad):
    cam = cam.reshape(-1, cam.shape[-2], cam.shape[-1])
    grad = grad.reshape(-1, grad.shape[-2], grad.shape[-1])
    cam = grad * cam
    cam = cam.clamp(min=0).mean(dim=0)
    return cam


def apply_self_attention_rules(R_ss, cam_ss):
    R_ss_addition = torch.matmul(cam_ss, R_ss)
    return R_ss_addition


def generate_relevance(model, input, maps, grads, index, prefix):
    output = model(input)
    one_hot = np.zeros((1, output.size()[-1]), dtype=np.float32)
    one_hot[0, index] = 1
    one_hot = torch.from_numpy(one_hot).requires_grad_(True)
    one_hot = torch.sum(one_hot * output)
    model.zero_grad()
    one_hot.backward(retain_graph=True)
    num_tokens = maps[0].shape[-1]
    R = torch.eye(num_tokens, num_tokens)
    for i in range(len(maps)):
        grad = grads[i]
        cam = maps[i]
        cam = avg_heads(cam, grad)
        R += apply_self_attention_rules(R, cam).detach()
    return R[0, prefix:]


@pytest.mark.parametrize("family,prefix", [("timm_vit", 1), ("timm_deit_distilled", 2)])
def test_gradient_rollout_equals_the_authors_generate_relevance(family, prefix):
    model, x = build(family), inputs(family, batch=1)
    ours = GradientRollout(model).attribute(x, target=[[7, 400]])
    maps, grads = hooked(model)
    for k, c in enumerate((7, 400)):
        theirs = generate_relevance(model, x, maps, grads, c, prefix)
        torch.testing.assert_close(ours[:, k], upsample(theirs, 224, 14), **TOLERANCE)


# --- Bousselham et al. 2024, WalBouss/LeGrad: LeWrapper.compute_legrad_clip, with the classifier --------

def compute_legrad(model, image, maps, index, patch_size=16, prefix=1):
    feats = {}
    handles = [b.register_forward_hook(lambda m, i, o, k=k: feats.__setitem__(k, o)) for k, b in enumerate(model.blocks)]
    model(image.requires_grad_(True))
    for h in handles:
        h.remove()
    w = h = int(np.sqrt(maps[0].shape[-1] - prefix))
    accum_expl_map = 0
    for layer in range(len(model.blocks)):
        sim = model.forward_head(model.norm(feats[layer]))
        one_hot = torch.sum(F.one_hot(torch.tensor([index]), sim.shape[-1]).float() * sim)
        attn_map = maps[layer]
        grad = torch.autograd.grad(one_hot, [attn_map], retain_graph=True, create_graph=True)[0]
        grad = torch.clamp(grad, min=0.)
        image_relevance = grad.mean(dim=1).mean(dim=1)[:, prefix:]
        expl_map = image_relevance.reshape(1, 1, w, h)
        expl_map = F.interpolate(expl_map, scale_factor=patch_size, mode='bilinear')
        accum_expl_map += expl_map
    return accum_expl_map


@pytest.mark.parametrize("family,prefix", [("timm_vit", 1), ("timm_deit_distilled", 2)])
def test_legrad_equals_the_authors_code(family, prefix):
    model, x = build(family), inputs(family, batch=1)
    ours = LeGrad(model).attribute(x, target=3)
    maps, _ = hooked(model)
    theirs = compute_legrad(model, x.clone(), maps, 3, prefix=prefix).detach()
    torch.testing.assert_close(ours * len(model.blocks), theirs, **TOLERANCE)
    # layer_index=-1, the last block alone.
    last = LeGrad(model, layer_index=-1).attribute(x, target=3)
    assert not torch.allclose(last, ours)


# --- Abnar & Zuidema: get_adjmat + compute_flows with networkx's Edmonds-Karp (from the top class token) --

def get_adjmat(mat):
    n_layers, length, _ = mat.shape
    adj_mat = np.zeros(((n_layers + 1) * length, (n_layers + 1) * length))
    for i in np.arange(1, n_layers + 1):
        for k_f in np.arange(length):
            index_from = i * length + k_f
            for k_t in np.arange(length):
                index_to = (i - 1) * length + k_t
                adj_mat[index_from][index_to] = mat[i - 1][k_f][k_t]
    return adj_mat


def compute_flow_from_top_class_token(adj_mat, n_layers, length):
    G = nx.from_numpy_array(adj_mat, create_using=nx.DiGraph())
    nx.set_edge_attributes(G, {(i, j): adj_mat[i, j] for i, j in G.edges}, "capacity")
    u = n_layers * length
    flow_values = np.zeros(length)
    for v in range(length):
        flow_values[v] = nx.maximum_flow_value(G, u, v, flow_func=nx.algorithms.flow.edmonds_karp)
    return flow_values / flow_values.sum()


def test_attention_flow_equals_the_authors_max_flow():
    torch.manual_seed(0)
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, depth=2, img_size=64).eval()
    x = torch.randn(1, 3, 64, 64)
    ours = AttentionFlow(model).attribute(x)
    att_mat = head_averaged_attention(model, x)
    res_att_mat = att_mat + np.eye(att_mat.shape[1])[None, ...]
    res_att_mat = res_att_mat / res_att_mat.sum(axis=-1)[..., None]
    theirs = compute_flow_from_top_class_token(get_adjmat(res_att_mat), 2, 17)[1:]
    # Capacities in integer units of 2**-20 (SciPy's solver): flows agree to a few units.
    torch.testing.assert_close(ours, upsample(theirs, 64, 4), rtol=0, atol=2e-5)
