-- tau.experiment: what every experiment script needs, so that none copies it.
--
--   local X = require "tau.experiment"
--   local ex = X.new{name = "accuracy_vs_tau", description = "...", paper_cost = "...",
--                    scales = {smoke = {...}, default = {...}, paper = {...}}}
--   ex:option("--models", "Comma-separated models.", X.list)   -- the script's own flags
--   local ctx = ex:parse()            -- flags, scale preset, threads, output folder, data
--   local model, rec = ctx:train{tau = 2, seed = 1, model = "cnn"}
--   ctx:write("accuracy", rows, {"model", "tau", ...})        -- CSV + JSON, stamped
--   ctx:figure("lines", {file = "accuracy.png", title = ..., series = ...})
--   ctx:claim{id = ..., claim = ..., statement = ..., numbers = ..., rule = "...",
--             verdict = function(numbers) ... end, controls = ctx:controls(records)}
--   ctx:finish()                      -- claims.json and the list of files of the run
--
-- Scales. Every flag that a preset may fill is declared without a default; after parsing, the
-- flags not given on the command line take the values of the chosen scale (smoke, default or
-- paper), so `--scale paper --epochs 3` is the paper's setting with three epochs. --help shows
-- each flag's value at each scale, and the paper scale's cost on a CPU.
--
-- Fair comparisons across τ. The cross-entropy's gradient scales with about 1/τ, so at a fixed
-- learning rate a high τ trains slower. --lr-scale tau multiplies the SGD learning rate by τ and
-- divides the weight decay by τ (the decay per step, lr·wd, stays the same; the update equals
-- that of the loss τ·CE_τ). AdamW's step does not depend on the gradient's scale, so it is left
-- as it is and the record says so. Every training record carries its final training loss and
-- accuracy, and ctx:controls states which controls held for a comparison.
--
-- The model cache. ctx:train keys a model by every setting that affects its training (data set
-- and a fingerprint of its content, training subset, model, width, τ, seed, optimiser, learning
-- rate and its scaling, weight decay, epochs, batch, schedule, augmentation, adversarial
-- training) and the test subset its curve was measured on; a model trained once is loaded by
-- every later script that asks for it (results/cache/*.safetensors, written atomically by
-- tau.save). A run whose loss became NaN is a result (recorded as diverged), not an error, and
-- is not cached.
--
-- Models: "cnn", "resnet<depth>", "vit", "mlp", or "name:width" (e.g. "vit:64", "resnet20:16"),
-- each behind a Normalize layer so that attacks and corruptions see images in [0, 1]. SGD
-- (momentum 0.9, Nesterov, weight decay 5e-4, rate 0.1) for all but the ViT (AdamW, 1e-3,
-- weight decay 0.05); a cosine schedule with one warm-up epoch from 5 epochs on.
local tau = require "tau"
local argparse = require "argparse"
local util = require "tau.util"
local X = {}

-- The paper's experiments in the order of their figures and tables: experiments/<name>.lua,
-- each writing results/<name>/ (experiments/reproduce.lua runs those that exist).
X.SCRIPTS = {"accuracy_vs_tau", "gradient_analysis", "tsne", "error_curves", "pgd_logits", "corruption",
             "adversarial", "adversarial_training", "auto_tau"}

local SCHEMA = 1 -- bump when training changes in a way the cache key cannot see
X.VERDICTS = {["supported"] = true, ["not supported"] = true, ["mixed"] = true, ["not testable at this scale"] = true}

-- {{====== Converters for flags (also usable on preset values) ======

-- "0.1,1,10" -> {0.1, 1, 10}: positive numbers.
function X.numbers(s)
  if type(s) == "table" then return s end
  local out = {}
  for part in tostring(s):gmatch("[^,%s]+") do
    local v = tonumber(part)
    if not v or not (v > 0) or v == math.huge then return nil, "'" .. part .. "' is not a positive number" end
    out[#out + 1] = v
  end
  if #out == 0 then return nil, "expected a comma-separated list of positive numbers" end
  return out
end

-- "a,b" -> {"a", "b"}
function X.list(s)
  if type(s) == "table" then return s end
  local out = {}
  for part in tostring(s):gmatch("[^,%s]+") do out[#out + 1] = part end
  if #out == 0 then return nil, "expected a comma-separated list" end
  return out
end

-- "3" -> {1, 2, 3}; "1,5,7" -> {1, 5, 7}
function X.seeds(s)
  if type(s) == "table" then return s end
  s = tostring(s)
  if s:find(",") then
    local out = {}
    for part in s:gmatch("[^,%s]+") do
      local v = math.tointeger(tonumber(part))
      if not v then return nil, "'" .. part .. "' is not an integer seed" end
      out[#out + 1] = v
    end
    return out
  end
  local n = math.tointeger(tonumber(s))
  if not n or n < 1 then return nil, "expected a count (e.g. 3) or a list of seeds (e.g. 1,2,3), got '" .. s .. "'" end
  local out = {}
  for i = 1, n do out[i] = i end
  return out
end

local function positive(s)
  local v = tonumber(s)
  if not v or not (v > 0) then return nil, "expected a positive number, got '" .. tostring(s) .. "'" end
  return v
end

local function count(s)
  local v = math.tointeger(tonumber(s))
  if not v or v < 0 then return nil, "expected a non-negative integer, got '" .. tostring(s) .. "'" end
  return v
end

local function whole(s)
  local v = math.tointeger(tonumber(s))
  if not v or v < 1 then return nil, "expected a positive integer, got '" .. tostring(s) .. "'" end
  return v
end
X.positive, X.count, X.whole = positive, count, whole

local function choice(...)
  local set = {...}
  return function(s)
    for _, c in ipairs(set) do if s == c then return s end end
    return nil, "expected one of " .. table.concat(set, ", ") .. ", got '" .. tostring(s) .. "'"
  end
end
X.choice = choice
-- }}======

-- {{====== Statistics over seeds ======

-- mean, sample standard deviation (0 for one value), min, max and n of a list of numbers.
function X.stats(values)
  local n, sum, lo, hi = #values, 0, math.huge, -math.huge
  if n == 0 then error("tau.experiment.stats: no values", 2) end
  for _, v in ipairs(values) do
    if type(v) ~= "number" or v ~= v then error("tau.experiment.stats: value " .. tostring(v) .. " is not a number", 2) end
    sum, lo, hi = sum + v, math.min(lo, v), math.max(hi, v)
  end
  local mean, ss = sum / n, 0
  for _, v in ipairs(values) do ss = ss + (v - mean) ^ 2 end
  return {mean = mean, std = n > 1 and math.sqrt(ss / (n - 1)) or 0, min = lo, max = hi, n = n, values = values}
end

-- "81.2 ± 0.4" (percent of a fraction when pct)
function X.pm(s, pct)
  local k = pct and 100 or 1
  if s.n > 1 then return string.format(pct and "%.2f ± %.2f" or "%.4g ± %.2g", k * s.mean, k * s.std) end
  return string.format(pct and "%.2f" or "%.4g", k * s.mean)
end

-- Groups records by key(r) and summarises field over each group: {[key] = stats}.
function X.summarise(records, key, field)
  local groups, order = {}, {}
  for _, r in ipairs(records) do
    local k = key(r)
    if not groups[k] then groups[k] = {}; order[#order + 1] = k end
    local v = r[field]
    if v ~= nil then table.insert(groups[k], v) end
  end
  local out = {}
  for _, k in ipairs(order) do if #groups[k] > 0 then out[k] = X.stats(groups[k]) end end
  return out, order
end
-- }}======

-- {{====== Data ======

local ARCHIVES = {
  cifar10 = {archive = "cifar10-jpg.tar.gz", dir = "cifar10"},
  tiny_imagenet = {archive = "tiny-imagenet-200-subset.tar.gz", dir = "tiny-imagenet-200"},
  cifar100 = {dir = "cifar-100-binary"},
}

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close(); return true end
  return os.rename(path, path) ~= nil
end

local function sh_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- The data folder of a data set: an unpacked copy under data/, or the archive of the shared
-- data folder (../shared/data or $TAU_SHARED_DATA) unpacked into data/ once (into a temporary
-- folder, then renamed, so an interrupted unpack is never taken for a whole one).
function X.find_root(name)
  local a = ARCHIVES[name]
  if not a then return nil end
  local local_dir = "data/" .. a.dir
  if exists(local_dir) then return local_dir end
  local shared = os.getenv("TAU_SHARED_DATA") or "../shared/data"
  if not a.archive or not exists(shared .. "/" .. a.archive) then
    error(string.format("tau.experiment: no %s data: neither %s nor %s/%s exists; pass --root (see README.md, "
                        .. "Data sets)", name, local_dir, shared, a.archive or "<archive>"), 0)
  end
  util.mkdir("data")
  local tmp = string.format("data/.unpack-%s-%d", a.dir, os.time())
  util.mkdir(tmp)
  io.stderr:write("unpacking " .. shared .. "/" .. a.archive .. " into data/ (once)\n")
  local ok = os.execute("tar -xzf " .. sh_quote(shared .. "/" .. a.archive) .. " -C " .. sh_quote(tmp))
  if not ok or not os.rename(tmp .. "/" .. a.dir, local_dir) then
    os.execute("rm -rf " .. sh_quote(tmp))
    error("tau.experiment: unpacking " .. a.archive .. " into data/ failed", 0)
  end
  os.execute("rm -rf " .. sh_quote(tmp))
  return local_dir
end

X.stats_of = {cifar100 = {mean = {0.5071, 0.4865, 0.4409}, std = {0.2673, 0.2564, 0.2762}}}

-- A fixed random subset of n images (the same whatever the training seed), so that a limit
-- keeps every class instead of the first class folders.
function X.subset(ds, n, seed)
  if not n or n <= 0 or n >= ds:size() then return ds end
  local perm = tau._data.permutation(ds:size(), seed or 0):totable()
  local pos = {}
  for i = 1, n do pos[i] = perm[i] end
  table.sort(pos)
  return ds:subset(pos)
end

-- A fingerprint of a data set's content (its size and the pixel sum of its first images), so
-- that the cache never serves a model trained on another copy of "the same" data set (the JPEG
-- and the binary CIFAR-10 differ by a few levels a pixel).
function X.fingerprint(ds)
  local n = math.min(ds:size(), 16)
  local pos = {}
  for i = 1, n do pos[i] = i end
  local x, y = ds:batch(pos)
  return string.format("%d:%.6e:%d", ds:size(), x:sum():item(), y:sum():item())
end

local function load_data(a)
  local test_split = a.data == "tiny_imagenet" and "val" or "test"
  local function load(split)
    if a.data == "fashion_mnist" then return tau.data.fashion_mnist{split = split, root = a.root} end
    return tau.data[a.data]{root = a.root, split = split}
  end
  local train, test = load("train"), load(test_split)
  return X.subset(train, a.train_limit, 0), X.subset(test, a.test_limit, 0)
end
-- }}======

-- {{====== The parser and its scales ======

local COMMON = {
  {"--data", "Data set: fashion_mnist | cifar10 | cifar100 | tiny_imagenet.",
   choice("fashion_mnist", "cifar10", "cifar100", "tiny_imagenet")},
  {"--root", "Data folder (default: data/<set>, unpacked from ../shared/data once when absent; Fashion-MNIST: "
             .. "Debian's dataset-fashion-mnist)."},
  {"--model", "Model: cnn | resnet<depth> (resnet20, resnet18, resnet50, ...) | vit | mlp; name:width sets its width."},
  {"--width", "Model width (cnn channels of the first layer; resnet width, 64 = standard; vit dim).", whole},
  {"--taus", "Comma-separated softmax temperatures.", X.numbers},
  {"--seeds", "Number of seeds (1..n) or a comma list of seeds.", X.seeds},
  {"--epochs", "Training epochs.", whole},
  {"--lr", "Peak learning rate (default: 0.1 for SGD, 1e-3 for AdamW).", positive},
  {"--lr-scale", "none | tau: multiply the SGD learning rate by τ (weight decay divided by τ).", choice("none", "tau")},
  {"--optimizer", "sgd | adamw (default: adamw for vit, sgd otherwise).", choice("sgd", "adamw")},
  {"--batch", "Batch size.", whole},
  {"--train-limit", "Training images: a fixed random subset of this size (0: all).", count},
  {"--test-limit", "Test images: a fixed random subset of this size (0: all).", count},
}

local BASE = {
  smoke = {data = "fashion_mnist", model = "cnn", taus = "0.5,1,5", seeds = "1", epochs = 1, lr_scale = "none",
           batch = 64, train_limit = 500, test_limit = 200},
  default = {data = "fashion_mnist", model = "cnn", taus = "0.5,1,2,5,20", seeds = "2", epochs = 3, lr_scale = "none",
             batch = 128, train_limit = 10000, test_limit = 2000},
  paper = {data = "cifar10", model = "resnet50", taus = "0.1,0.25,0.5,1,2,5,10,50,100", seeds = "3", epochs = 200,
           lr_scale = "none", batch = 128, train_limit = 0, test_limit = 0},
}

local function key_of(flag) return flag:gsub("^%-%-", ""):gsub("%-", "_") end

local Exp = {}
Exp.__index = Exp

-- X.new{name, description, scales = {smoke = {...}, default = {...}, paper = {...}}, paper_cost,
--        no_seed}
-- scales: values of flags (keys as in args: train_limit) per scale, over the common base.
-- no_seed: the script draws nothing at random besides training (whose seeds are --seeds), so it
-- offers no --seed flag that it would ignore.
function X.new(o)
  if type(o) ~= "table" or type(o.name) ~= "string" then error("tau.experiment.new: expected {name = ..., ...}", 2) end
  local scales = {}
  for s, base in pairs(BASE) do
    scales[s] = {}
    for k, v in pairs(base) do scales[s][k] = v end
    for k, v in pairs((o.scales or {})[s] or {}) do scales[s][k] = v end
  end
  for s in pairs(o.scales or {}) do
    if not BASE[s] then error("tau.experiment.new: unknown scale '" .. tostring(s) .. "' (smoke, default, paper)", 2) end
  end
  local self = setmetatable({name = o.name, scales = scales, converters = {}, declared = {}}, Exp)
  local epilog = "Scales: smoke (seconds, checks that the script runs), default (minutes on a 2-core CPU), "
                 .. "paper (the paper's setting). " .. (o.paper_cost and ("Paper scale: " .. o.paper_cost) or "")
  self.parser = argparse(o.name .. ".lua", o.description or o.name):epilog(epilog)
  self.parser:option("--scale", "smoke | default | paper: fills every flag not given.", "default")
    :convert(choice("smoke", "default", "paper"))
  for _, c in ipairs(COMMON) do self:option(c[1], c[2], c[3]) end
  self.parser:option("--out", "Results folder.", "results/" .. o.name)
  self.parser:option("--cache", "Model cache folder.", "results/cache")
  self.parser:flag("--no-cache", "Train every model, neither reading nor writing the cache.")
  self.parser:option("--threads", "Threads (0: all cores).", "0"):convert(count)
  if not o.no_seed then
    self.parser:option("--seed", "Seed of everything that is not training (attacks, corruptions).", "1"):convert(count)
  end
  self.parser:flag("--quiet", "No per-epoch lines.")
  return self
end

-- Declares a flag that the scales may fill (no default of its own).
function Exp:option(flag, description, convert)
  local key = key_of(flag)
  local presets = {}
  for _, s in ipairs{"smoke", "default", "paper"} do
    local v = self.scales[s][key]
    if v ~= nil then presets[#presets + 1] = s .. " " .. (type(v) == "table" and table.concat(v, ",") or tostring(v)) end
  end
  local desc = description .. (#presets > 0 and (" [" .. table.concat(presets, "; ") .. "]") or "")
  local opt = self.parser:option(flag, desc)
  if convert then
    opt:convert(function(v)
      local cv, err = convert(v)
      if cv == nil then return nil, flag .. ": " .. tostring(err) end
      return cv
    end)
  end
  self.converters[key] = convert or false
  self.declared[key] = true
  return opt
end

function Exp:flag(...) return self.parser:flag(...) end

function Exp:parse(argv)
  local args = self.parser:parse(argv)
  local preset = self.scales[args.scale]
  for k, v in pairs(preset) do
    if not self.declared[k] then
      error("tau.experiment: the " .. args.scale .. " scale of " .. self.name .. " sets '" .. k .. "', which is no flag", 0)
    end
    if args[k] == nil then
      local conv = self.converters[k]
      if conv then
        local cv, err = conv(v)
        if cv == nil then error("tau.experiment: preset " .. k .. ": " .. tostring(err), 0) end
        v = cv
      end
      args[k] = v
    end
  end
  return X.context(self, args)
end
-- }}======

-- {{====== The run context ======

local Ctx = {}
Ctx.__index = Ctx

function X.context(ex, args)
  if args.threads > 0 then tau.set_num_threads(args.threads) end
  if args.data ~= "fashion_mnist" and not args.root then args.root = X.find_root(args.data) end
  local ctx = setmetatable({name = ex.name, args = args, out = args.out, claims = {}, files = {}, figures = {},
                            records = {}, t0 = tau.time()}, Ctx)
  ctx.train_ds, ctx.test_ds = load_data(args)
  ctx.taus, ctx.seeds = args.taus, args.seeds
  util.mkdir(ctx.out)
  local ds = ctx.train_ds
  print(string.format("%s (%s scale): %s, %d training / %d test images of %dx%dx%d, %d classes; %d thread(s)",
                      ex.name, args.scale, args.data, ds:size(), ctx.test_ds:size(), ds.channels, ds.height, ds.width,
                      ds.classes, tau.get_num_threads()))
  return ctx
end

-- The provenance stamp of every file: command, seed, version, scale and the settings.
function Ctx:provenance()
  local a = self.args
  return util.provenance({seed = a.seed, seeds = a.seeds, scale = a.scale, data = a.data, model = a.model,
                          epochs = a.epochs, lr_scale = a.lr_scale, train_limit = a.train_limit,
                          test_limit = a.test_limit, batch = a.batch})
end

-- Builds a model by name for the context's data, behind a Normalize layer, so attacks and
-- corruptions act on images in [0, 1].
function Ctx:model(name, width)
  local ds = self.train_ds
  local c, h, classes = ds.channels, ds.height, ds.classes
  local net
  if name == "vit" then
    local dim = width or 128
    net = tau.models.vit{patch = h >= 64 and 8 or 4, dim = dim, depth = 6, heads = 4, mlp = 2 * dim,
                         classes = classes, image = h, channels = c}
  elseif name == "cnn" then
    net = tau.models.cnn{channels = c, classes = classes, image = h, width = width}
  elseif name == "mlp" then
    if width then error("tau.experiment: the mlp model takes no width, got " .. width, 0) end
    net = tau.models.mlp{inputs = c * h * ds.width, classes = classes}
  else
    net = tau.models.build(name, {width = width or 64, classes = classes, channels = c})
  end
  local st = tau.data.stats[self.args.data] or X.stats_of[self.args.data] or {mean = 0.5, std = 0.25}
  return tau.nn.Sequential{tau.nn.Normalize(st.mean, st.std), net}
end

local function fnv(s)
  local h = 0xcbf29ce484222325
  for i = 1, #s do h = (h ~ s:byte(i)) * 0x100000001b3 end
  return string.format("%016x", h)
end

local SPEC_KEYS = {}
for k in ("tau seed model width lr lr_scale optimizer epochs batch schedule adversarial augment quiet"):gmatch("%S+") do
  SPEC_KEYS[k] = true
end

-- The full training setting of a spec, with every default resolved.
function Ctx:setting(spec)
  for k in pairs(spec) do
    if not SPEC_KEYS[k] then error("tau.experiment.train: unknown option '" .. tostring(k) .. "'", 3) end
  end
  local a = self.args
  -- "vit:64" names a model and its width at once, so a list of models can give each its size
  local name, w = tostring(spec.model or a.model):match("^([^:]+):?(%d*)$")
  if not name then error("tau.experiment.train: bad model name '" .. tostring(spec.model or a.model) .. "'", 3) end
  self.data_sig = self.data_sig or (X.fingerprint(self.train_ds) .. "/" .. X.fingerprint(self.test_ds))
  local s = {data = a.data, data_sig = self.data_sig, train_n = self.train_ds:size(), test_n = self.test_ds:size(),
             model = name, width = spec.width or tonumber(w) or a.width, tau = spec.tau, seed = spec.seed or 1,
             epochs = spec.epochs or a.epochs, batch = spec.batch or a.batch, lr_scale = spec.lr_scale or a.lr_scale,
             schedule = spec.schedule or "cosine", schema = SCHEMA}
  if type(s.tau) ~= "number" or not (s.tau > 0) then
    error("tau.experiment.train: tau must be a positive number, got " .. tostring(s.tau), 3)
  end
  s.optimizer = spec.optimizer or a.optimizer or (s.model == "vit" and "adamw" or "sgd")
  s.lr_base = spec.lr or a.lr or (s.optimizer == "adamw" and 1e-3 or 0.1)
  s.weight_decay = s.optimizer == "adamw" and 0.05 or 5e-4
  s.lr, s.lr_scaled = s.lr_base, false
  if s.lr_scale == "tau" and s.optimizer == "sgd" then
    s.lr, s.weight_decay, s.lr_scaled = s.lr_base * s.tau, s.weight_decay / s.tau, true
  end
  local aug = spec.augment
  if aug == nil then aug = self.train_ds.channels == 3 and {crop = self.train_ds.height // 8, flip = true} or false end
  s.augment = aug
  s.warmup = s.epochs >= 5 and 1 or 0
  s.adversarial = spec.adversarial
  return s
end

local function key_string(s)
  local parts = {}
  local function add(prefix, t)
    local keys = {}
    for k in pairs(t) do keys[#keys + 1] = k end
    table.sort(keys)
    for _, k in ipairs(keys) do
      local v = t[k]
      if type(v) == "table" then add(prefix .. k .. ".", v)
      else parts[#parts + 1] = prefix .. k .. "=" .. (type(v) == "number" and string.format("%.17g", v) or tostring(v)) end
    end
  end
  add("", s)
  return table.concat(parts, ";")
end

local function history_of(rows)
  local h = {}
  for i, r in ipairs(rows) do
    h[i] = {epoch = r.epoch, lr = r.lr, train_loss = r.train_loss, train_acc = r.train_acc, test_loss = r.eval_loss,
            test_acc = r.eval_acc}
  end
  return h
end

-- ctx:train{tau, seed = 1, model, width, lr, lr_scale, optimizer, epochs, batch, schedule =
-- "cosine" | "constant", augment, adversarial = {...} (as tau.train.fit), quiet}
-- -> model, record {setting, tau, seed, model, lr, train_loss, train_acc (final epoch),
--    test_acc, test_loss (at the training τ), history (per epoch, test curve included),
--    seconds (of the training that made it), cached, diverged}
function Ctx:train(spec)
  if type(spec) ~= "table" then error("tau.experiment.train: expected an options table", 2) end
  local s = self:setting(spec)
  local key = key_string(s)
  local file = string.format("%s/%s-%s-tau%g-seed%d-%s.safetensors", self.args.cache, s.data, s.model, s.tau, s.seed,
                             fnv(key))
  local model = self:model(s.model, s.width)
  local use_cache = not self.args.no_cache
  if use_cache and exists(file) then
    local ok, st = pcall(tau.load, file)
    if ok and st.key == key then
      model:load_state_dict(st.model)
      model:evaluate()
      local rec = st.record
      rec.history = rec.history or {}
      rec.cached, rec.setting = true, s
      self.records[#self.records + 1] = rec
      if not self.args.quiet then
        print(string.format("  %s tau %g seed %d: cached (test %.2f%%)", s.model, s.tau, s.seed, 100 * rec.test_acc))
      end
      return model, rec
    end
  end
  tau.manual_seed(s.seed)
  model = self:model(s.model, s.width)
  local opt
  if s.optimizer == "adamw" then
    opt = tau.optim.AdamW(model:parameters(), {lr = s.lr, weight_decay = s.weight_decay})
  else
    opt = tau.optim.SGD(model:parameters(), {lr = s.lr, momentum = 0.9, weight_decay = s.weight_decay, nesterov = true})
  end
  local steps = (self.train_ds:size() + s.batch - 1) // s.batch
  local sched = s.schedule == "cosine" and tau.optim.cosine(opt, {epochs = s.epochs, warmup = s.warmup,
                                                                   steps_per_epoch = steps}) or nil
  if s.schedule ~= "cosine" and s.schedule ~= "constant" then
    error("tau.experiment.train: schedule must be 'cosine' or 'constant', got " .. tostring(s.schedule), 2)
  end
  local t0 = tau.time()
  local quiet = spec.quiet or self.args.quiet
  if not quiet then
    print(string.format("  %s tau %g seed %d: training (%s lr %g%s, %d epochs)", s.model, s.tau, s.seed, s.optimizer,
                        s.lr, s.lr_scaled and " = base×τ" or "", s.epochs))
  end
  local ok, rows, status = pcall(tau.train.fit, model, self.train_ds, {
    epochs = s.epochs, batch = s.batch, opt = opt, schedule = sched, tau = s.tau, seed = s.seed,
    eval_ds = self.test_ds, augment = s.augment or nil, adversarial = s.adversarial, quiet = true})
  local rec = {tau = s.tau, seed = s.seed, model = s.width and (s.model .. ":" .. s.width) or s.model, data = s.data, lr = s.lr, lr_base = s.lr_base,
               lr_scaled = s.lr_scaled, epochs = s.epochs, seconds = tau.time() - t0, cached = false, diverged = false}
  if not ok then
    -- a loss that became NaN is a result (this τ and rate diverge), anything else an error
    if not tostring(rows):find("became NaN", 1, true) then error(rows, 0) end
    print(string.format("  %s tau %g seed %d: diverged (%s)", s.model, s.tau, s.seed, tostring(rows)))
    rec.diverged, rows = true, {}
  elseif status ~= "done" then
    error("tau.experiment.train: training was interrupted", 0)
  end
  rec.history = history_of(rows)
  local last = rec.history[#rec.history] or {}
  rec.train_loss, rec.train_acc = last.train_loss or 0 / 0, last.train_acc or 0 / 0
  model:evaluate()
  local ev = tau.train.evaluate(model, self.test_ds, {tau = s.tau})
  rec.test_acc, rec.test_loss = ev.accuracy, ev.loss
  if not quiet then
    print(string.format("  %s tau %g seed %d: train loss %.4f acc %.2f%%, test %.2f%% (%s)", s.model, s.tau, s.seed,
                        rec.train_loss, 100 * rec.train_acc, 100 * rec.test_acc, util.format_time(rec.seconds)))
  end
  if use_cache and not rec.diverged then
    util.mkdir(self.args.cache)
    local r = {}
    for k, v in pairs(rec) do r[k] = v end
    tau.save(file, {key = key, model = model:state_dict(), record = r})
  end
  rec.setting = s
  self.records[#self.records + 1] = rec
  return model, rec
end
-- }}======

-- {{====== Results ======

-- The columns of a table of training records (one row per trained model).
X.RECORD_COLUMNS = {"model", "width", "tau", "seed", "lr", "epochs", "train_loss", "train_acc", "test_loss", "test_acc",
                    "seconds", "cached", "diverged"}

-- Writes <stem>.csv/.json with one row per training record.
function Ctx:write_records(stem, records)
  local rows = {}
  for i, r in ipairs(records) do
    rows[i] = {}
    for _, k in ipairs(X.RECORD_COLUMNS) do rows[i][k] = r[k] end
    rows[i].width = r.setting and r.setting.width
  end
  self:write(stem, rows, X.RECORD_COLUMNS)
end

local function rel(self, file) return self.out .. "/" .. file end

-- Writes <out>/<stem>.csv (first line: # provenance JSON) and <out>/<stem>.json.
function Ctx:write(stem, rows, columns)
  local prov = self:provenance()
  util.write_file(rel(self, stem .. ".csv"), "# " .. util.json(prov) .. "\n" .. util.csv(rows, columns))
  util.write_file(rel(self, stem .. ".json"), util.json({provenance = prov, columns = columns, rows = rows}, 2) .. "\n")
  self.files[#self.files + 1] = stem .. ".csv"
  self.files[#self.files + 1] = stem .. ".json"
end

-- Draws a figure through tau.plot[kind] into <out>/<spec.file>; spec is tau.plot's, with
-- file (a name in the results folder) in place of path. A missing tau.plot is said aloud and
-- recorded, not passed over.
function Ctx:figure(kind, spec)
  local file = spec.file
  if type(file) ~= "string" then error("tau.experiment.figure: spec.file must be a file name", 2) end
  local ok, plot = pcall(require, "tau.plot")
  local entry = {file = file, title = spec.title, kind = kind}
  if not ok or type(plot[kind]) ~= "function" then
    entry.missing = "tau.plot." .. kind .. " is not available"
    io.stderr:write(self.name .. ": figure " .. file .. " not drawn: " .. entry.missing .. "\n")
  else
    local p = {}
    for k, v in pairs(spec) do if k ~= "file" then p[k] = v end end
    p.path = rel(self, file)
    local drawn, err = pcall(plot[kind], p)
    -- raised again at the script's line, which holds the spec at fault
    if not drawn then error(tostring(err):gsub("^[^:]*:%d+: ", ""), 2) end
  end
  self.figures[#self.figures + 1] = entry
  return entry
end

-- Which fair-comparison controls held for a comparison of the records:
--   lr_scale: the learning rate was scaled by τ (SGD) — or the optimiser (AdamW) is
--     insensitive to the gradient's scale;
--   training: every model reached a final training accuracy within `tol` (default 0.05) of the
--     best one (a high τ did not merely train slower), with the final training losses;
--   matched_clean (o.matched_clean = tol): clean test accuracies within tol of each other.
function Ctx:controls(records, o)
  o = o or {}
  local c = {}
  local scaled, adam, n = 0, 0, #records
  local lo, hi, losses = math.huge, -math.huge, {}
  local clo, chi = math.huge, -math.huge
  local diverged = 0
  for _, r in ipairs(records) do
    if r.lr_scaled then scaled = scaled + 1 end
    if r.setting and r.setting.optimizer == "adamw" then adam = adam + 1 end
    if r.diverged then diverged = diverged + 1 else lo, hi = math.min(lo, r.train_acc), math.max(hi, r.train_acc) end
    clo, chi = math.min(clo, r.test_acc), math.max(chi, r.test_acc)
    losses[#losses + 1] = string.format("τ=%g: %.3f/%.1f%%", r.tau, r.train_loss, 100 * r.train_acc)
  end
  c.lr_scale = {held = scaled + adam == n and n > 0,
                detail = string.format("--lr-scale %s: %d of %d models trained with the rate scaled by τ%s",
                                       self.args.lr_scale, scaled, n,
                                       adam > 0 and string.format(", %d with AdamW (scale-invariant, not scaled)", adam) or "")}
  local tol = o.train_tol or 0.05
  c.training = {held = n > 0 and diverged == 0 and hi - lo <= tol,
                detail = string.format((diverged > 0 and (diverged .. " run(s) diverged; ") or "") .. "final training accuracy %.1f%%–%.1f%% (rule: spread ≤ %.0f points); final "
                                       .. "training loss/accuracy of the seed-%s runs: %s", 100 * lo, 100 * hi, 100 * tol,
                                       tostring(records[1] and records[1].seed), self:_first_seed_losses(records))}
  if o.matched_clean then
    c.matched_clean = {held = chi - clo <= o.matched_clean,
                       detail = string.format("clean test accuracy %.1f%%–%.1f%% (rule: spread ≤ %.0f points)",
                                              100 * clo, 100 * chi, 100 * o.matched_clean)}
  end
  return c
end

function Ctx:_first_seed_losses(records)
  local seed = records[1] and records[1].seed
  local parts = {}
  for _, r in ipairs(records) do
    if r.seed == seed then
      parts[#parts + 1] = string.format("%s τ=%g %.3f/%.1f%%", r.model, r.tau, r.train_loss, 100 * r.train_acc)
    end
  end
  return table.concat(parts, ", ")
end

-- Records a claim; its verdict is computed here by o.verdict(o.numbers), never typed in.
-- o: id, claim (the paper's claim), statement (what exactly is tested), numbers, rule (the
-- verdict rule in words), verdict (function), controls (from ctx:controls).
function Ctx:claim(o)
  for _, k in ipairs{"id", "claim", "statement", "rule"} do
    if type(o[k]) ~= "string" then error("tau.experiment.claim: " .. k .. " must be a string", 2) end
  end
  if type(o.verdict) ~= "function" then error("tau.experiment.claim: verdict must be a function of the numbers", 2) end
  local v = o.verdict(o.numbers)
  if not X.VERDICTS[v] then error("tau.experiment.claim: verdict rule of " .. o.id .. " gave " .. tostring(v), 2) end
  local a = self.args
  local c = {id = o.id, claim = o.claim, statement = o.statement, command = self:provenance().command, scale = a.scale,
             seeds = a.seeds, numbers = o.numbers, rule = o.rule, verdict = v, controls = o.controls or {},
             figures = o.figures}
  self.claims[#self.claims + 1] = c
  print(string.format("claim %s: %s", o.id, v))
  return c
end

-- Writes claims.json and results.json (provenance, files, figures, wall time).
function Ctx:finish(extra)
  local prov = self:provenance()
  util.write_file(rel(self, "claims.json"), util.json({provenance = prov, claims = self.claims}, 2) .. "\n")
  local seconds = tau.time() - self.t0
  local trained, cached = 0, 0
  for _, r in ipairs(self.records) do if r.cached then cached = cached + 1 else trained = trained + 1 end end
  local run = {provenance = prov, name = self.name, files = self.files, figures = self.figures, seconds = seconds,
               models_trained = trained, models_cached = cached}
  for k, v in pairs(extra or {}) do run[k] = v end
  util.write_file(rel(self, "results.json"), util.json(run, 2) .. "\n")
  print(string.format("%s: %d claim(s), %d model(s) trained, %d from the cache, %s; results in %s/", self.name,
                      #self.claims, trained, cached, util.format_time(seconds), self.out))
end
-- }}======

return X
