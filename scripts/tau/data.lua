-- Data sets and loaders. Decoding, batching and augmentation run in C (tau._data); this module
-- gives them the DESIGN section 4 interface: constructors taking option tables, subsets, and
-- seeded loaders yielding (N, C, H, W) float batches with int32 labels 1..C.
local tau = require "tau"
local raise = require("tau.util").raise
local raw = tau._data
local data = {}

local Dataset = {}
Dataset.__index = Dataset

local function wrap(ud, name)
  local info = ud:info()
  return setmetatable({raw = ud, name = name, n = info.n, channels = info.channels, height = info.height,
                       width = info.width, classes = info.classes, class_names = info.class_names}, Dataset)
end

function Dataset:size() return self.indices and #self.indices or self.n end
Dataset.__len = Dataset.size

-- Position i of this (sub)set in the underlying data set.
function Dataset:_index(i)
  if self.indices then
    local j = self.indices[i]
    if not j then raise(string.format("Dataset:get: index %s out of range 1..%d", tostring(i), #self.indices)) end
    return j
  end
  return i
end

function Dataset:get(i)
  if math.type(i) ~= "integer" then raise("Dataset:get: index must be an integer, got " .. tostring(i)) end
  return self.raw:get(self:_index(i))
end

-- positions: a table of 1-based positions in this (sub)set.
function Dataset:batch(positions, opts)
  if self.indices then
    local mapped = {}
    for k, i in ipairs(positions) do mapped[k] = self:_index(i) end
    positions = mapped
  end
  return self.raw:batch(positions, opts)
end

-- All labels as an int32 tensor (N), 1-based.
function Dataset:labels()
  local all = self.raw:labels()
  if not self.indices then return all end
  return all:index_select(1, tau.tensor(self.indices, "int32"))
end

-- A view on some samples: a list of positions, or {first = a, last = b}, or a count n (the
-- first n).
local subset_range = tau.options.spec("Dataset:subset", {first = "integer", last = "integer"})
function Dataset:subset(sel)
  local idx, n = {}, self:size()
  -- positions are checked here, so a bad selection fails at once rather than at a later get
  local function at(i)
    if math.type(i) ~= "integer" or i < 1 or i > n then
      raise(string.format("Dataset:subset: position %s out of range 1..%d", tostring(i), n))
    end
    return self:_index(i)
  end
  if type(sel) == "number" then
    for i = 1, math.min(sel, n) do idx[i] = at(i) end
  elseif type(sel) ~= "table" then
    raise("Dataset:subset: expected a list of positions, {first = a, last = b} or a count, got " .. type(sel))
  elseif sel[1] == nil and next(sel) ~= nil then
    local r = subset_range(sel) -- {frist = 2} is refused, not read as an empty list
    for i = r.first or 1, r.last or n do idx[#idx + 1] = at(i) end
  else
    for k, i in ipairs(sel) do idx[k] = at(i) end
  end
  local sub = setmetatable({}, Dataset)
  for k, v in pairs(self) do sub[k] = v end
  sub.indices = idx
  return sub
end

function Dataset:__tostring()
  return string.format("Dataset(%s: %d images, %dx%dx%d, %d classes)", self.name or "?", self:size(),
                       self.channels, self.height, self.width, self.classes)
end

local spec = tau.options.spec
local root_split = {root = "string", split = "string"}
local function required_root(t)
  local c = {root = {"string", required = true}}
  for k, v in pairs(t) do c[k] = c[k] or v end
  return c
end

local fashion_mnist_opts = spec("tau.data.fashion_mnist", root_split)
function data.fashion_mnist(o)
  o = fashion_mnist_opts(o)
  return wrap(raw.fashion_mnist(o.root, o.split or "train"), "fashion_mnist/" .. (o.split or "train"))
end

local mnist_opts = spec("tau.data.mnist", required_root(root_split))
function data.mnist(o)
  o = mnist_opts(o)
  return wrap(raw.mnist(o.root, o.split or "train"), "mnist/" .. (o.split or "train"))
end

local cifar10_opts = spec("tau.data.cifar10", required_root(root_split))
function data.cifar10(o)
  o = cifar10_opts(o)
  return wrap(raw.cifar10(o.root, o.split or "train"), "cifar10/" .. (o.split or "train"))
end

local cifar100_opts = spec("tau.data.cifar100", required_root{split = "string", labels = {"string", default = "fine"}})
function data.cifar100(o)
  o = cifar100_opts(o)
  if o.labels ~= "fine" and o.labels ~= "coarse" then
    raise("tau.data.cifar100: labels must be 'fine' or 'coarse', got " .. tostring(o.labels))
  end
  return wrap(raw.cifar100(o.root, o.split or "train", o.labels == "coarse"), "cifar100/" .. (o.split or "train"))
end

local tiny_imagenet_opts = spec("tau.data.tiny_imagenet", required_root(root_split))
function data.tiny_imagenet(o)
  o = tiny_imagenet_opts(o)
  return wrap(raw.tiny_imagenet(o.root, o.split or "train"), "tiny_imagenet/" .. (o.split or "train"))
end

local image_folder_opts = spec("tau.data.image_folder", required_root{channels = {"integer", default = 0}})
function data.image_folder(o)
  o = image_folder_opts(o)
  return wrap(raw.image_folder(o.root, o.channels), o.root)
end

function data.cifar_files(paths, variant)
  return wrap(raw.cifar_files(paths, variant or "cifar10"), "cifar")
end

-- The usual per-channel statistics, for normalize = data.stats.cifar10 and the like.
data.stats = {
  cifar10 = {mean = {0.4914, 0.4822, 0.4465}, std = {0.2470, 0.2435, 0.2616}},
  fashion_mnist = {mean = {0.2860}, std = {0.3530}},
  tiny_imagenet = {mean = {0.4802, 0.4481, 0.3975}, std = {0.2770, 0.2691, 0.2821}},
}

-- for x, y in data.loader(ds, {batch, shuffle, seed, epoch, drop_last, normalize = {mean, std},
--                               augment = {crop = pad, flip = bool}, start = 0}) do ... end
-- One pass over ds. With shuffle, the order depends on (seed, epoch) alone; augmentation draws
-- depend on (seed, epoch, batch number), so a pass is reproducible whatever the thread count.
local loader_opts = spec("tau.data.loader", {
  batch = {"integer", min = 1, default = 128}, shuffle = {"boolean", default = false},
  seed = {"integer", default = 0}, epoch = {"integer", default = 0}, drop_last = {"boolean", default = false},
  start = {"integer", min = 0, default = 0},
  normalize = {"table", default = {}, fields = {mean = "number|table", std = "number|table"}},
  augment = {"table", default = {}, fields = {crop = {"integer", default = 0}, flip = {"boolean", default = false}}},
})

function data.loader(ds, o)
  if getmetatable(ds) ~= Dataset then raise("tau.data.loader: argument 1 must be a data set") end
  o = loader_opts(o)
  local bs = o.batch
  local n = ds:size()
  local seed, epoch, start = o.seed, o.epoch, o.start
  local mixed = raw.seed_mix(seed, epoch)
  local order
  if o.shuffle and n > 0 then
    order = raw.permutation(n, mixed):totable()
  end
  local aug, norm = o.augment, o.normalize
  local nb = o.drop_last and n // bs or (n + bs - 1) // bs
  -- start: resume a pass after its first `start` batches (same order and augmentation)
  local b = start
  local it = {}
  function it.len() return nb end
  setmetatable(it, {__call = function()
    if b >= nb then return nil end
    b = b + 1
    local first = (b - 1) * bs + 1
    local last = math.min(b * bs, n)
    local pos = {}
    for i = first, last do pos[#pos + 1] = order and order[i] or i end
    return ds:batch(pos, {pad = aug.crop, flip = aug.flip, mean = norm.mean, std = norm.std,
                          seed = raw.seed_mix(mixed, b)})
  end, __len = function() return nb end})
  return it
end

data.Dataset = Dataset
return data
