-- Multi-head attention.
local tau = require "tau"
local F = tau.F
local Module = require("tau.nn.module").Module
local common = require "tau.nn.common"
local check_positive_int, new_param = common.check_positive_int, common.new_param
local util = require "tau.util"
local shape_str, raise = util.shape_str, util.raise
local spec = tau.options.spec

local init = require "tau.nn.initialization"
local Linear = require("tau.nn.linear").Linear
local is_tensor = tau.is_tensor

local nn = {}

-- MultiheadAttention(d, h, {dropout = 0, bias = true}) on batch-first (B, T, d) inputs:
--   mha(x [, mask | {mask, key_padding_mask}])          self-attention
--   mha(query, key, value [, mask | {mask, ...}])        key/value of size (B, S, d)
-- Returns the (B, T, d) output. mask is (T, S), (B, T, S), (B * h, T, S) or (B, h, T, S):
-- float masks are added to the scores, int32 masks (from comparisons) block where non-zero.
-- key_padding_mask is (B, S), non-zero (or a float added to the scores) for ignored keys.
local MHA = Module:extend("MultiheadAttention")
nn.MultiheadAttention = MHA

local mha_opts = spec("tau.nn.MultiheadAttention", {dropout = {"number", min = 0, max = 1, default = 0},
                                                   bias = {"boolean", default = true}})
function MHA:init(d, h, opts)
  local fn = "tau.nn.MultiheadAttention"
  opts = mha_opts(opts)
  self.embed_dim = check_positive_int(d, "embed_dim", fn)
  self.num_heads = check_positive_int(h, "num_heads", fn)
  if d % h ~= 0 then raise(string.format("%s: embed_dim (%d) must be divisible by num_heads (%d)", fn, d, h)) end
  self.head_dim = d // h
  self.dropout = opts.dropout
  local bias = opts.bias
  self.in_proj_weight = new_param(3 * d, d)
  if bias then self.in_proj_bias = tau.zeros(3 * d):requires_grad() end
  self.out_proj = Linear(d, d, {bias = bias})
  init.xavier_uniform_(self.in_proj_weight)
  if bias then init.zeros_(self.out_proj.bias) end
end

local function additive(mask)
  if mask:dtype() == "int32" then return tau.where(mask:ne(0), -math.huge, 0) end
  return mask
end

local function attn_mask(self, mask, kpm, b, t, s)
  local h = self.num_heads
  local m
  if mask then
    m = additive(mask)
    local d = m:dim()
    if d == 2 then
      m = m:view(1, 1, t, s)
    elseif d == 3 then
      if m:size(1) == b * h and b * h ~= b then m = m:reshape(b, h, t, s)
      else m = m:unsqueeze(2) end
    elseif d ~= 4 then
      raise("MultiheadAttention: mask must have 2 to 4 dimensions, got size " .. shape_str(mask))
    end
  end
  if kpm then
    if kpm:dim() ~= 2 or kpm:size(1) ~= b or kpm:size(2) ~= s then
      raise(string.format("MultiheadAttention: key_padding_mask must be of size [%d, %d], got %s", b, s,
                          shape_str(kpm)))
    end
    -- the attention kernel broadcasts masks over batch and heads only, not over queries
    local k = additive(kpm):view(b, 1, 1, s)
    m = m and m + k or k:expand(b, 1, t, s)
  end
  return m
end

local forward_opts = spec("tau.nn.MultiheadAttention:forward",
                         {mask = "tensor", key_padding_mask = "tensor", causal = "boolean"})
function MHA:forward(q, k, v, o)
  if not is_tensor(k) or not is_tensor(v) then o, k, v = k, q, q end
  if is_tensor(o) then o = {mask = o} end
  o = forward_opts(o)
  if q:dim() ~= 3 or q:size(3) ~= self.embed_dim then
    raise(string.format("MultiheadAttention: query must be (B, T, %d), got size %s", self.embed_dim, shape_str(q)))
  end
  local b, t, d, h, hd = q:size(1), q:size(2), self.embed_dim, self.num_heads, self.head_dim
  local s = k:size(2)
  local w, bias = self.in_proj_weight, self.in_proj_bias
  local qh, kh, vh
  if k == q and v == q then
    -- one projection for all three, split by a view: (B, T, 3, h, hd) -> 3 x (B, h, T, hd)
    local qkv = F.linear(q, w, bias):view(b, t, 3, h, hd):permute(3, 1, 4, 2, 5)
    qh, kh, vh = qkv[1], qkv[2], qkv[3]
  else
    local function proj(x, i, n)
      local wi = w:narrow(1, (i - 1) * d + 1, d)
      local bi = bias and bias:narrow(1, (i - 1) * d + 1, d)
      return F.linear(x, wi, bi):view(b, n, h, hd):transpose(2, 3)
    end
    qh, kh, vh = proj(q, 1, t), proj(k, 2, s), proj(v, 3, s)
  end
  local m = attn_mask(self, o.mask, o.key_padding_mask, b, t, s)
  local out = F.attention(qh, kh, vh, {mask = m, causal = o.causal, dropout = self.dropout,
                                       training = self.training})
  return self.out_proj(out:transpose(2, 3):reshape(b, t, d))
end

function MHA:extra_repr()
  return string.format("embed_dim=%d, num_heads=%d, dropout=%g", self.embed_dim, self.num_heads, self.dropout)
end

return nn
