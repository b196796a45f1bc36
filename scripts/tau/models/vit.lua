-- Vision Transformer: patch embedding by a convolution with stride = patch, a class token,
-- learned position embeddings, pre-norm blocks (x + MHA(LN(x)), x + MLP(LN(x)) with GELU), a
-- final LayerNorm and a linear head on the class token. The position embeddings fix the image
-- size given at construction.
local tau = require "tau"
local raise = require("tau.util").raise
local nn = tau.nn
local F = tau.F

local Block = nn.Module:extend("Block")

function Block:init(dim, heads, hidden, dropout)
  self.norm1 = nn.LayerNorm(dim, {eps = 1e-6})
  self.attn = nn.MultiheadAttention(dim, heads, {dropout = dropout})
  self.norm2 = nn.LayerNorm(dim, {eps = 1e-6})
  self.mlp = nn.Sequential{nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim),
                           nn.Dropout(dropout)}
end

function Block:forward(x)
  x = x + self.attn(self.norm1(x))
  return x + self.mlp(self.norm2(x))
end

local ViT = nn.Module:extend("ViT")

function ViT:init(o)
  local fn = "tau.models.vit"
  local patch, dim = o.patch or 4, o.dim or 192
  local depth, heads = o.depth or 6, o.heads or 3
  local image, channels = o.image or 32, o.channels or 3
  local hidden, dropout = o.mlp or dim * 2, o.dropout or 0
  if image % patch ~= 0 then raise(string.format("%s: image size %d is not a multiple of the patch size %d", fn, image, patch)) end
  if dim % heads ~= 0 then raise(string.format("%s: dim %d is not divisible by heads %d", fn, dim, heads)) end
  self.image, self.patch, self.dim = image, patch, dim
  self.num_patches = (image // patch) ^ 2 // 1
  self.patch_embed = nn.Conv2d(channels, dim, patch, {stride = patch})
  self.cls_token = tau.zeros(1, 1, dim):requires_grad()
  self.pos_embed = tau.zeros(1, self.num_patches + 1, dim):requires_grad()
  self.pos_drop = nn.Dropout(dropout)
  local blocks = nn.Sequential()
  for _ = 1, depth do blocks:add(Block(dim, heads, hidden, dropout)) end
  self.blocks = blocks
  self.norm = nn.LayerNorm(dim, {eps = 1e-6})
  self.head = nn.Linear(dim, o.classes or 10)
  -- as in the reference ViT training code: truncated-normal(0.02) embeddings and linear
  -- weights, zero biases; the attention input projections stay Xavier-uniform
  nn.init.trunc_normal_(self.pos_embed, {std = 0.02})
  nn.init.trunc_normal_(self.cls_token, {std = 0.02})
  for _, m in ipairs(self:modules()) do
    if m.__name == "Linear" then
      nn.init.trunc_normal_(m.weight, {std = 0.02})
      if m.bias then nn.init.zeros_(m.bias) end
    end
  end
end

function ViT:forward(x)
  if x:dim() ~= 4 or x:size(3) ~= self.image or x:size(4) ~= self.image then
    raise(string.format("ViT: expected images (N, C, %d, %d), got size [%s]", self.image, self.image,
                        table.concat(x:size(), ", ")))
  end
  local b = x:size(1)
  local tokens = self.patch_embed(x):flatten(3):transpose(2, 3)          -- (B, N, dim)
  local cls = self.cls_token:expand(b, 1, self.dim)
  x = self.pos_drop(tau.cat({cls, tokens}, 2) + self.pos_embed)
  x = self.norm(self.blocks(x))
  return self.head(x:select(2, 1))
end

-- vit{patch = 4, dim = 192, depth = 6, heads = 3, mlp = 2 * dim, classes = 10, image = 32,
--     channels = 3, dropout = 0}
local vit_opts = tau.options.spec("tau.models.vit", {
  patch = {"integer", min = 1}, dim = {"integer", min = 1}, depth = {"integer", min = 1}, heads = {"integer", min = 1},
  mlp = {"integer", min = 1}, classes = {"integer", min = 1}, image = {"integer", min = 1},
  channels = {"integer", min = 1}, dropout = {"number", min = 0, max = 1}})
return function(o) return ViT(vit_opts(o)) end
