-- Data sets and loaders. Decoding, batching and augmentation run in C (tau._data); this module
-- gives them the DESIGN section 4 interface: constructors taking option tables, subsets, and
-- seeded loaders yielding (N, C, H, W) float batches with int32 labels 1..C.
local tau = require "tau"
local raw = tau._data
local data = {}

local Dataset = {}
Dataset.__index = Dataset

-- Runs a C loader; its errors (which name the file and the problem) already point at the line
-- that called the tau.data constructor.
local function load(loader, ...) return loader(...) end

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
    if not j then error(string.format("Dataset:get: index %s out of range 1..%d", tostring(i), #self.indices), 3) end
    return j
  end
  return i
end

function Dataset:get(i)
  if math.type(i) ~= "integer" then error("Dataset:get: index must be an integer, got " .. tostring(i), 2) end
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
function Dataset:subset(sel)
  local idx, n = {}, self:size()
  -- positions are checked here, so a bad selection fails at once rather than at a later get
  local function at(i)
    if math.type(i) ~= "integer" or i < 1 or i > n then
      error(string.format("Dataset:subset: position %s out of range 1..%d", tostring(i), n), 3)
    end
    return self:_index(i)
  end
  if type(sel) == "number" then
    for i = 1, math.min(sel, n) do idx[i] = at(i) end
  elseif type(sel) ~= "table" then
    error("Dataset:subset: expected a list of positions, {first = a, last = b} or a count, got " .. type(sel), 2)
  elseif sel.first or sel.last then
    for i = sel.first or 1, sel.last or n do idx[#idx + 1] = at(i) end
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

-- The options table (or {}); keys outside `allowed` (a space-separated list) are refused, so a
-- misspelt option (suffle = true) is not silently ignored.
local function opts_of(fn, o, allowed, what)
  if o == nil then return {} end
  if type(o) ~= "table" then error(fn .. ": " .. (what or "options") .. " must be a table, got " .. type(o), 3) end
  for k in pairs(o) do
    if type(k) ~= "string" or not (" " .. allowed .. " "):find(" " .. k .. " ", 1, true) then
      error(string.format("%s: unknown %s '%s' (valid: %s)", fn, what and what .. " option" or "option", tostring(k),
                          allowed:gsub(" ", ", ")), 3)
    end
  end
  return o
end

function data.fashion_mnist(o)
  o = opts_of("tau.data.fashion_mnist", o, "root split")
  return wrap(load(raw.fashion_mnist, o.root, o.split or "train"), "fashion_mnist/" .. (o.split or "train"))
end

function data.mnist(o)
  o = opts_of("tau.data.mnist", o, "root split")
  if not o.root then error("tau.data.mnist: option 'root' is required", 2) end
  return wrap(load(raw.mnist, o.root, o.split or "train"), "mnist/" .. (o.split or "train"))
end

function data.cifar10(o)
  o = opts_of("tau.data.cifar10", o, "root split")
  if not o.root then error("tau.data.cifar10: option 'root' is required", 2) end
  return wrap(load(raw.cifar10, o.root, o.split or "train"), "cifar10/" .. (o.split or "train"))
end

function data.cifar100(o)
  o = opts_of("tau.data.cifar100", o, "root split labels")
  if not o.root then error("tau.data.cifar100: option 'root' is required", 2) end
  local labels = o.labels or "fine"
  if labels ~= "fine" and labels ~= "coarse" then
    error("tau.data.cifar100: labels must be 'fine' or 'coarse', got " .. tostring(labels), 2)
  end
  return wrap(load(raw.cifar100, o.root, o.split or "train", labels == "coarse"), "cifar100/" .. (o.split or "train"))
end

function data.tiny_imagenet(o)
  o = opts_of("tau.data.tiny_imagenet", o, "root split")
  if not o.root then error("tau.data.tiny_imagenet: option 'root' is required", 2) end
  return wrap(load(raw.tiny_imagenet, o.root, o.split or "train"), "tiny_imagenet/" .. (o.split or "train"))
end

function data.image_folder(o)
  o = opts_of("tau.data.image_folder", o, "root channels")
  if not o.root then error("tau.data.image_folder: option 'root' is required", 2) end
  return wrap(load(raw.image_folder, o.root, o.channels or 0), o.root)
end

function data.cifar_files(paths, variant)
  return wrap(load(raw.cifar_files, paths, variant or "cifar10"), "cifar")
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
function data.loader(ds, o)
  if getmetatable(ds) ~= Dataset then error("tau.data.loader: argument 1 must be a data set", 2) end
  o = opts_of("tau.data.loader", o, "batch shuffle seed epoch drop_last normalize augment start")
  local bs = o.batch or 128
  if math.type(bs) ~= "integer" or bs < 1 then error("tau.data.loader: batch must be a positive integer", 2) end
  local n = ds:size()
  local function int_opt(key, min)
    local v = o[key] or 0
    local i = math.type(v) and math.tointeger(v)
    if not i or (min and i < min) then
      error(string.format("tau.data.loader: %s must be %sinteger, got %s", key, min and "a non-negative " or "an ",
                          tostring(v)), 3)
    end
    return i
  end
  local seed, epoch, start = int_opt("seed"), int_opt("epoch"), int_opt("start", 0)
  local mixed = raw.seed_mix(seed, epoch)
  local order
  if o.shuffle and n > 0 then
    order = raw.permutation(n, mixed):totable()
  end
  local aug = opts_of("tau.data.loader", o.augment, "crop flip", "augment")
  local norm = opts_of("tau.data.loader", o.normalize, "mean std", "normalize")
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
    return ds:batch(pos, {pad = aug.crop or 0, flip = aug.flip or false, mean = norm.mean, std = norm.std,
                          seed = raw.seed_mix(mixed, b)})
  end, __len = function() return nb end})
  return it
end

data.Dataset = Dataset
return data
