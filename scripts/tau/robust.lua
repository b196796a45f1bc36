-- Robustness evaluation: clean accuracy, the common corruptions, and a battery of attacks chosen
-- to tell real robustness from gradient masking — PGD with the CE loss at τ = 1 and at the
-- model's training τ, the scale-free CW margin loss, targeted PGD, APGD-CE and APGD-DLR, and
-- transfer from another model (e.g. one trained at τ = 1). A model whose accuracy holds under
-- CE at its own τ but falls under CW, DLR or transfer is masking gradients, not robust.
local tau = require "tau"
local data = require "tau.data"
local util = require "tau.util"
local raise = util.raise
local with_eval = require("tau.nn.module").with_eval
local spec = tau.options.spec
require "tau.attack" -- declares the attacks' options, which attack_accuracy and pgd_accuracy take
local robust = {}

-- The options of an attack (tau.options.specs["tau.attack.pgd"], ...) plus extra ones.
local function attack_spec(kind, extra)
  local s = {}
  for k, v in pairs(tau.options.specs["tau.attack." .. kind] or {}) do s[k] = v end
  for k, v in pairs(extra) do s[k] = v end
  return s
end

-- Runs body(x, y, b) over the batches of ds (raw images in [0, 1], in order).
local function each_batch(ds, bs, body)
  local b = 0
  for x, y in data.loader(ds, {batch = bs}) do
    b = b + 1
    body(x, y, b)
  end
end

local function count_correct(model, x, y)
  return tau.no_grad(function() return model(x):argmax(2):eq(y):sum():item() end)
end

local clean_opts = spec("tau.robust.clean_accuracy", {batch = {"integer", min = 1, default = 256}})
function robust.clean_accuracy(model, ds, o)
  o = clean_opts(o)
  local correct, n = 0, 0
  with_eval(model, each_batch, ds, o.batch, function(x, y)
    correct = correct + count_correct(model, x, y)
    n = n + y:size(1)
  end)
  return correct / math.max(n, 1)
end

-- Accuracy on corrupted copies of ds: o.names (default the 15 of CIFAR-10-C), o.severities
-- (default 1..5) or o.severity, o.seed, o.frost_dir. Returns {acc = {name = {sev = acc}},
-- by_name = {name = mean over severities}, mean = mean over all}.
local corruption_opts = spec("tau.robust.corruption_accuracy", {
  names = "table", severities = "table", severity = {"integer", min = 1, max = 5}, seed = {"integer", default = 0},
  batch = {"integer", min = 1, default = 256}, frost_dir = "string|boolean"})
function robust.corruption_accuracy(model, ds, o)
  o = corruption_opts(o)
  local names = o.names or tau.corrupt.benchmark
  local sevs = o.severities or (o.severity and {o.severity}) or {1, 2, 3, 4, 5}
  local seed = o.seed
  local res = {acc = {}, by_name = {}}
  with_eval(model, function()
    local total, cells = 0, 0
    for _, name in ipairs(names) do
      res.acc[name] = {}
      local sum = 0
      for _, s in ipairs(sevs) do
        local correct, n = 0, 0
        each_batch(ds, o.batch, function(x, y, b)
          local xc = tau.corrupt.apply(x, name, s, {seed = tau._data.seed_mix(seed, b),
                                                    frost_dir = o.frost_dir})
          correct = correct + count_correct(model, xc, y)
          n = n + y:size(1)
        end)
        local a = correct / math.max(n, 1)
        res.acc[name][s] = a
        sum = sum + a
        total, cells = total + a, cells + 1
      end
      res.by_name[name] = sum / #sevs
    end
    res.mean = total / math.max(cells, 1)
  end)
  return res
end

-- Runs an attack over ds in batches: attack(model, x, y, opts) -> x_adv, info. Returns the
-- accuracy on x_adv, the success rate (targeted: reached the target), and, for the first
-- o.record samples, the logits before and after.
local RECORD = {record = {"integer", min = 0, default = 0}, batch = {"integer", min = 1, default = 256}}
local attack_opts = {}
for _, kind in ipairs{"fgsm", "apgd", "pgd"} do
  -- pgd last: tau.options.specs shows the keys of the default attack
  attack_opts[kind] = spec("tau.robust.attack_accuracy", attack_spec(kind, RECORD))
end

function robust.attack_accuracy(model, ds, kind, o)
  local fn = tau.attack[kind]
  if not attack_opts[kind] then raise("tau.robust.attack_accuracy: unknown attack '" .. tostring(kind) .. "'") end
  o = attack_opts[kind](o)
  local correct, success, n = 0, 0, 0
  local record = o.record
  local before, after, labels = {}, {}, {}
  each_batch(ds, o.batch, function(x, y, b)
    local a = {}
    for k, v in pairs(o) do if k ~= "record" and k ~= "batch" then a[k] = v end end
    a.seed = tau._data.seed_mix(o.seed or 0, b)
    local xa, info = fn(model, x, y, a)
    local m = y:size(1)
    correct = correct + math.floor(info.accuracy * m + 0.5)
    success = success + math.floor(info.success_rate * m + 0.5)
    if #labels < record then
      local z0, z1 = with_eval(model, tau.no_grad, function() return model(x):totable(), model(xa):totable() end)
      local ys = y:totable()
      for i = 1, m do
        if #labels >= record then break end
        before[#before + 1], after[#after + 1], labels[#labels + 1] = z0[i], z1[i], ys[i]
      end
    end
    n = n + m
  end)
  local r = {accuracy = correct / math.max(n, 1), success_rate = success / math.max(n, 1), n = n}
  if record > 0 then r.logits = {before = before, after = after, labels = labels} end
  return r
end

-- PGD-k accuracy (untargeted by default); o as for tau.attack.pgd plus batch.
local pgd_opts = spec("tau.robust.pgd_accuracy", attack_spec("pgd", {
  record = RECORD.record, batch = RECORD.batch, steps = {"integer", min = 0, default = 10}}))
function robust.pgd_accuracy(model, ds, o)
  o = pgd_opts(o)
  if type(o.eps) ~= "number" then
    raise("tau.robust.pgd_accuracy: eps (the radius of the threat model) must be a number, got " .. type(o.eps))
  end
  local a = {}
  for k, v in pairs(o) do a[k] = v end
  a.steps = a.steps or 10
  a.alpha = a.alpha or 2.5 * a.eps / a.steps
  return robust.attack_accuracy(model, ds, "pgd", a).accuracy
end

-- The whole evaluation. o: tau_train (the model's training temperature), eps (list),
-- steps, norm, corruptions (false to skip, or a table of names), severities, source_model
-- (for transfer), apgd (default true), apgd_steps, targeted (default true), record (samples
-- whose logits are kept before/after PGD at the largest eps), seed, batch, quiet, out (a path
-- prefix for JSON output).
local evaluate_opts = spec("tau.robust.evaluate", {
  tau_train = {"number", above = 0, default = 1}, eps = {"table", default = {2 / 255, 4 / 255, 8 / 255}},
  steps = {"integer", min = 1, default = 10}, norm = {"string", default = "linf"}, corruptions = "boolean|table",
  severities = "table", frost_dir = "string|boolean", source_model = "function", apgd = {"boolean", default = true},
  apgd_steps = {"integer", min = 1}, targeted = {"boolean", default = true}, record = {"integer", min = 0, default = 16},
  seed = {"integer", default = 0}, batch = {"integer", min = 1, default = 256}, quiet = "boolean", out = "string"})
function robust.evaluate(model, ds, o)
  o = evaluate_opts(o)
  local t_train = o.tau_train
  local eps_list = o.eps
  local steps = o.steps
  local seed = o.seed
  local bs = o.batch
  local say = o.quiet and function() end or print
  local R = {tau_train = t_train, n = ds:size(), eps = eps_list, steps = steps}
  R.clean = robust.clean_accuracy(model, ds, {batch = bs})
  say(string.format("clean accuracy                 %6.2f%%   (%d images)", 100 * R.clean, R.n))
  if o.corruptions ~= false then
    R.corruption = robust.corruption_accuracy(model, ds, {names = type(o.corruptions) == "table" and o.corruptions or nil,
                                                          severities = o.severities, seed = seed, batch = bs,
                                                          frost_dir = o.frost_dir})
    say(string.format("corruptions (mean)             %6.2f%%", 100 * R.corruption.mean))
    local names = {}
    for name in pairs(R.corruption.by_name) do names[#names + 1] = name end
    table.sort(names)
    for _, name in ipairs(names) do
      say(string.format("  %-28s %6.2f%%", name, 100 * R.corruption.by_name[name]))
    end
  end
  local taus = {1}
  if t_train ~= 1 then taus[2] = t_train end
  R.pgd, R.cw, R.targeted, R.apgd_ce, R.apgd_dlr, R.transfer = {}, {}, {}, {}, {}, {}
  local attack = {norm = o.norm, batch = bs, seed = seed}
  local function with(extra)
    local a = {}
    for k, v in pairs(attack) do a[k] = v end
    for k, v in pairs(extra) do a[k] = v end
    return a
  end
  for i, eps in ipairs(eps_list) do
    local alpha = 2.5 * eps / steps
    local last = i == #eps_list
    for _, t in ipairs(taus) do
      local r = robust.attack_accuracy(model, ds, "pgd", with{eps = eps, alpha = alpha, steps = steps, tau = t,
                                                              record = last and t == 1 and o.record or 0})
      R.pgd[#R.pgd + 1] = {eps = eps, tau = t, accuracy = r.accuracy}
      if r.logits then R.logits = r.logits end
      say(string.format("PGD-%d CE tau=%-6g eps=%.4f   %6.2f%%", steps, t, eps, 100 * r.accuracy))
    end
    local cw = robust.attack_accuracy(model, ds, "pgd", with{eps = eps, alpha = alpha, steps = steps, loss = "cw"})
    R.cw[#R.cw + 1] = {eps = eps, accuracy = cw.accuracy}
    say(string.format("PGD-%d CW margin   eps=%.4f   %6.2f%%", steps, eps, 100 * cw.accuracy))
    if o.targeted ~= false then
      local tg = robust.attack_accuracy(model, ds, "pgd", with{eps = eps, alpha = alpha, steps = steps, targeted = true,
                                                               target = "random"})
      R.targeted[#R.targeted + 1] = {eps = eps, success_rate = tg.success_rate, accuracy = tg.accuracy}
      say(string.format("PGD-%d targeted    eps=%.4f   success %6.2f%%", steps, eps, 100 * tg.success_rate))
    end
    if o.apgd ~= false then
      local n_apgd = o.apgd_steps or math.max(steps, 20)
      local ce = robust.attack_accuracy(model, ds, "apgd", with{eps = eps, steps = n_apgd, loss = "ce"})
      local dlr = robust.attack_accuracy(model, ds, "apgd", with{eps = eps, steps = n_apgd, loss = "dlr"})
      R.apgd_ce[#R.apgd_ce + 1] = {eps = eps, accuracy = ce.accuracy}
      R.apgd_dlr[#R.apgd_dlr + 1] = {eps = eps, accuracy = dlr.accuracy}
      say(string.format("APGD-CE / APGD-DLR eps=%.4f   %6.2f%% / %6.2f%%", eps, 100 * ce.accuracy, 100 * dlr.accuracy))
    end
    if o.source_model then
      local correct, n = 0, 0
      each_batch(ds, bs, function(x, y, b)
        local _, acc = tau.attack.transfer(o.source_model, model, x, y,
                                           with{eps = eps, alpha = alpha, steps = steps, seed = tau._data.seed_mix(seed, b)})
        correct, n = correct + acc * y:size(1), n + y:size(1)
      end)
      R.transfer[#R.transfer + 1] = {eps = eps, accuracy = correct / math.max(n, 1)}
      say(string.format("transfer PGD-%d    eps=%.4f   %6.2f%%", steps, eps, 100 * correct / math.max(n, 1)))
    end
  end
  -- the worst case over every attack run, per eps: the honest robust accuracy
  R.worst = {}
  for i, eps in ipairs(eps_list) do
    local w = 1
    for _, list in ipairs{R.cw, R.apgd_ce, R.apgd_dlr, R.transfer} do
      if list[i] then w = math.min(w, list[i].accuracy) end
    end
    for _, p in ipairs(R.pgd) do if p.eps == eps then w = math.min(w, p.accuracy) end end
    R.worst[i] = {eps = eps, accuracy = w}
    say(string.format("worst case         eps=%.4f   %6.2f%%", eps, 100 * w))
  end
  if o.out then
    local dir = o.out:match("^(.*)/[^/]*$")
    if dir then util.mkdir(dir) end
    util.write_file(o.out .. ".json", util.json({provenance = util.provenance({seed = seed}), results = R}, 2) .. "\n")
  end
  return R
end

return robust
