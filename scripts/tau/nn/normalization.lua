-- Normalisation layers: BatchNorm1d/2d, LayerNorm, and Normalize (fixed per-channel statistics).
local tau = require "tau"
local F = tau.F
local Module = require("tau.nn.module").Module
local common = require "tau.nn.common"
local check_positive_int = common.check_positive_int
local util = require "tau.util"
local shape_str, raise = util.shape_str, util.raise
local spec = tau.options.spec

local nn = {}

-- Batch normalisation over (N, C, ...): batch statistics in training (updating the running
-- ones with momentum), running statistics in evaluation.
local BatchNorm = Module:extend("BatchNorm")
nn.BatchNorm = BatchNorm

local BATCH_NORM = {eps = {"number", above = 0, default = 1e-5}, momentum = {"number", min = 0, max = 1, default = 0.1},
                    affine = {"boolean", default = true}, track_running_stats = {"boolean", default = true}}
local batch_norm_opts = {}
for _, name in ipairs{"tau.nn.BatchNorm", "tau.nn.BatchNorm1d", "tau.nn.BatchNorm2d"} do
  batch_norm_opts[name] = spec(name, BATCH_NORM)
end

function BatchNorm:init(c, opts, fn, dims)
  fn = fn or "tau.nn.BatchNorm"
  opts = batch_norm_opts[fn](opts)
  self.num_features = check_positive_int(c, "num_features", fn)
  self.eps = opts.eps
  self.momentum = opts.momentum
  self.affine = opts.affine
  self.track_running_stats = opts.track_running_stats
  self.input_dims = dims
  if self.affine then
    self.weight = tau.ones(c):requires_grad()
    self.bias = tau.zeros(c):requires_grad()
  end
  if self.track_running_stats then
    self:register_buffer("running_mean", tau.zeros(c))
    self:register_buffer("running_var", tau.ones(c))
  end
end

function BatchNorm:forward(x)
  local dims = self.input_dims
  if dims then
    local d = x:dim()
    local ok = false
    for _, v in ipairs(dims) do ok = ok or v == d end
    if not ok then
      raise(string.format("%s: expected a %s-dimensional input, got size %s", self.__name,
                          table.concat(dims, " or "), shape_str(x)))
    end
  end
  if x:size(2) ~= self.num_features then
    raise(string.format("%s: expected %d channels (dimension 2), got size %s", self.__name,
                        self.num_features, shape_str(x)))
  end
  local use_batch = self.training or not self.track_running_stats
  return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                      {training = use_batch, momentum = self.momentum, eps = self.eps})
end

function BatchNorm:extra_repr()
  return string.format("%d, eps=%g, momentum=%g, affine=%s", self.num_features, self.eps, self.momentum,
                       tostring(self.affine))
end

nn.BatchNorm2d = BatchNorm:extend("BatchNorm2d", {
  init = function(self, c, opts) BatchNorm.init(self, c, opts, "tau.nn.BatchNorm2d", {4}) end})
nn.BatchNorm1d = BatchNorm:extend("BatchNorm1d", {
  init = function(self, c, opts) BatchNorm.init(self, c, opts, "tau.nn.BatchNorm1d", {2, 3}) end})

-- LayerNorm(d) normalises the last dimension; LayerNorm{d1, d2} the last two.
local LayerNorm = Module:extend("LayerNorm")
nn.LayerNorm = LayerNorm

local layer_norm_opts = spec("tau.nn.LayerNorm", {eps = {"number", above = 0, default = 1e-5},
  elementwise_affine = {"boolean", default = true}, bias = {"boolean", default = true}})
function LayerNorm:init(shape, opts)
  local fn = "tau.nn.LayerNorm"
  opts = layer_norm_opts(opts)
  if type(shape) == "number" then shape = {shape} end
  if type(shape) ~= "table" or #shape == 0 then raise(fn .. ": normalized shape must be a number or a list of sizes") end
  self.normalized_shape = {}
  for i, s in ipairs(shape) do self.normalized_shape[i] = check_positive_int(s, "normalized shape", fn) end
  self.eps = opts.eps
  self.elementwise_affine = opts.elementwise_affine
  if self.elementwise_affine then
    self.weight = tau.ones(self.normalized_shape):requires_grad()
    if opts.bias then self.bias = tau.zeros(self.normalized_shape):requires_grad() end
  end
end

function LayerNorm:forward(x)
  local ns = self.normalized_shape
  local d = x:dim()
  local ok = d >= #ns
  for i = 1, #ns do ok = ok and x:size(d - #ns + i) == ns[i] end
  if not ok then
    raise(string.format("LayerNorm: input of size %s does not end with the normalized shape [%s]",
                        shape_str(x), table.concat(ns, ", ")))
  end
  return F.layer_norm(x, self.weight, self.bias, {eps = self.eps, dims = #ns})
end

function LayerNorm:extra_repr()
  return string.format("[%s], eps=%g, elementwise_affine=%s", table.concat(self.normalized_shape, ", "), self.eps,
                       tostring(self.elementwise_affine))
end

-- Normalize(mean, std): (x - mean) / std per channel of (N, C, ...) images, inside the model so
-- attacks and corruptions can work on raw [0, 1] pixels. mean and std are numbers or one value
-- per channel; they are saved with the model as buffers.
local Normalize = Module:extend("Normalize")
nn.Normalize = Normalize

function Normalize:init(mean, std)
  local fn = "tau.nn.Normalize"
  if type(mean) == "number" then mean = {mean} end
  if type(std) == "number" then std = {std} end
  if type(mean) ~= "table" or type(std) ~= "table" or #mean == 0 or #mean ~= #std then
    raise(fn .. ": mean and std must be numbers or lists of the same length")
  end
  for i = 1, #std do
    if type(std[i]) ~= "number" or std[i] <= 0 then raise(fn .. ": std must be positive, got " .. tostring(std[i])) end
  end
  self.channels = #mean
  self:register_buffer("mean", tau.tensor(mean):view(1, #mean, 1, 1))
  self:register_buffer("std", tau.tensor(std):view(1, #std, 1, 1))
end

function Normalize:forward(x)
  local c = self.channels
  if x:dim() < 2 or (c > 1 and x:size(2) ~= c) then
    raise(string.format("Normalize: expected (N, %d, ...) input, got size %s", c, shape_str(x)))
  end
  local m, s = self.mean, self.std
  if x:dim() ~= 4 then
    local shape = {1, c}
    for _ = 3, x:dim() do shape[#shape + 1] = 1 end
    m, s = m:view(shape), s:view(shape)
  end
  return (x - m) / s
end

function Normalize:extra_repr()
  local function list(t) local v = {} for i = 1, self.channels do v[i] = string.format("%g", t:get_flat(i)) end return "{" .. table.concat(v, ", ") .. "}" end
  return "mean=" .. list(self.mean) .. ", std=" .. list(self.std)
end

return nn
