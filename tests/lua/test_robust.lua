-- tau.robust on a tiny model trained on generated data: clean accuracy, corruptions, attacks
-- (PGD lowers accuracy, eps 0 leaves it), and the full evaluation with transfer from a source
-- model and a training temperature other than 1, including its JSON output.
local T = ...
package.path = "tests/lua/?.lua;" .. package.path
local fx = require "fixtures"
local robust = tau.robust

local tmp = fx.root()
local train_ds, test_ds = fx.learnable{n = 256, n_test = 64}

local function trained(seed, t)
  tau.manual_seed(seed)
  local m = fx.mlp{classes = 10}
  local opt = tau.optim.SGD(m:parameters(), {lr = 0.1, momentum = 0.9})
  tau.train.fit(m, train_ds, {epochs = 3, batch = 32, opt = opt, quiet = true, tau = t or 1, seed = seed})
  return m
end

local model = trained(1)
local source = trained(2)
local model_t2 = trained(3, 2)

-- Accuracy computed directly, for comparison.
local function direct_accuracy(m, ds)
  local pos = {}
  for i = 1, ds:size() do pos[i] = i end
  local x, y = ds:batch(pos)
  m:evaluate()
  local acc = tau.no_grad(function() return m(x):argmax(2):eq(y):float():mean():item() end)
  m:train()
  return acc
end

T.test("clean_accuracy matches a direct computation and restores the training mode", function()
  local acc = robust.clean_accuracy(model, test_ds, {batch = 7})
  T.near(acc, direct_accuracy(model, test_ds), 1e-12)
  T.ok(acc >= 0.9, "the model learned: " .. acc)
  T.eq(model.training, true)
  T.eq(robust.clean_accuracy(model, test_ds), acc, "the batch size does not matter")
  T.raises(function() robust.clean_accuracy(model, test_ds, 3) end,
           "tau.robust.clean_accuracy: options must be a table, got number")
end)

T.test("corruption_accuracy: names, one severity, means", function()
  local r = robust.corruption_accuracy(model, test_ds, {names = {"gaussian_noise", "contrast"}, severity = 3, seed = 1,
                                                        batch = 32})
  for _, name in ipairs{"gaussian_noise", "contrast"} do
    local a = r.acc[name][3]
    T.ok(type(a) == "number" and a >= 0 and a <= 1, name .. " accuracy " .. tostring(a))
    T.eq(r.acc[name][1], nil, "only the severity asked for")
    T.eq(r.by_name[name], a)
  end
  T.near(r.mean, (r.acc.gaussian_noise[3] + r.acc.contrast[3]) / 2, 1e-12)
  local again = robust.corruption_accuracy(model, test_ds, {names = {"gaussian_noise", "contrast"}, severity = 3,
                                                            seed = 1, batch = 32})
  T.eq(again.mean, r.mean, "seeded: reproducible")
  local two = robust.corruption_accuracy(model, test_ds, {names = {"contrast"}, severities = {1, 5}})
  T.ok(two.acc.contrast[1] >= two.acc.contrast[5], "stronger contrast loss does not help")
  T.near(two.by_name.contrast, (two.acc.contrast[1] + two.acc.contrast[5]) / 2, 1e-12)
  T.eq(model.training, true)
  T.raises(function() robust.corruption_accuracy(model, test_ds, {names = {"no_such"}, severity = 1}) end, "no_such")
end)

T.test("attack_accuracy / pgd_accuracy: PGD lowers accuracy, eps 0 leaves it", function()
  local clean = robust.clean_accuracy(model, test_ds)
  local zero = robust.pgd_accuracy(model, test_ds, {eps = 0, steps = 3})
  T.eq(zero, clean, "eps 0 changes nothing")
  local strong = robust.pgd_accuracy(model, test_ds, {eps = 0.5, steps = 10, seed = 1})
  T.ok(strong < clean, string.format("PGD lowers accuracy: %.3f -> %.3f", clean, strong))
  local weak = robust.pgd_accuracy(model, test_ds, {eps = 0.05, steps = 10, seed = 1})
  T.ok(weak >= strong, "a smaller ball is not stronger")
  local r = robust.attack_accuracy(model, test_ds, "pgd", {eps = 0.5, alpha = 0.1, steps = 10, batch = 16, seed = 1,
                                                           record = 5})
  T.eq(r.n, 64)
  T.near(r.success_rate + r.accuracy, 1, 0.2, "untargeted success is roughly the errors")
  T.eq(#r.logits.before, 5)
  T.eq(#r.logits.after, 5)
  T.eq(#r.logits.labels, 5)
  T.eq(#r.logits.before[1], 10, "one logit per class")
  local f = robust.attack_accuracy(model, test_ds, "fgsm", {eps = 0.5})
  T.ok(f.accuracy < clean, "FGSM lowers accuracy")
  T.eq(model.training, true)
  T.raises(function() robust.attack_accuracy(model, test_ds, "nope", {}) end,
           "tau.robust.attack_accuracy: unknown attack 'nope'")
  T.raises(function() robust.pgd_accuracy(model, test_ds, {steps = 2}) end,
           "tau.robust.pgd_accuracy: eps (the radius of the threat model) must be a number, got nil")
end)

T.test("evaluate: every field with transfer and tau_train = 2; worst <= each attack; JSON out", function()
  local out = tmp .. "/results/eval"
  local eps = {0.1, 0.4}
  local R = robust.evaluate(model_t2, test_ds, {tau_train = 2, eps = eps, steps = 3, apgd_steps = 4,
                                                corruptions = {"gaussian_noise", "fog"}, severities = {2},
                                                source_model = source, record = 4, seed = 3, batch = 32,
                                                quiet = true, out = out})
  T.eq(R.tau_train, 2)
  T.eq(R.n, 64)
  T.eq(R.steps, 3)
  T.near(R.clean, direct_accuracy(model_t2, test_ds), 1e-12)
  T.ok(R.corruption.by_name.gaussian_noise and R.corruption.by_name.fog, "corruptions run")
  T.eq(#R.pgd, 4, "PGD at tau 1 and at tau_train, per eps")
  local seen = {}
  for _, p in ipairs(R.pgd) do seen[p.eps .. "/" .. p.tau] = p.accuracy end
  for _, e in ipairs(eps) do
    T.ok(seen[e .. "/1"] and seen[e .. "/2"], "PGD at eps " .. e .. " for both temperatures")
  end
  for _, k in ipairs{"cw", "targeted", "apgd_ce", "apgd_dlr", "transfer", "worst"} do
    T.eq(#R[k], 2, k .. ": one entry per eps")
    for i, e in ipairs(eps) do T.eq(R[k][i].eps, e, k .. " eps") end
  end
  for i, e in ipairs(eps) do
    local w = R.worst[i].accuracy
    for _, k in ipairs{"cw", "apgd_ce", "apgd_dlr", "transfer"} do
      T.ok(w <= R[k][i].accuracy, string.format("worst %.3f <= %s %.3f at eps %g", w, k, R[k][i].accuracy, e))
    end
    for _, p in ipairs(R.pgd) do
      if p.eps == e then T.ok(w <= p.accuracy, "worst <= pgd at tau " .. p.tau) end
    end
    T.ok(R.targeted[i].success_rate >= 0 and R.targeted[i].success_rate <= 1, "targeted success rate")
    T.ok(w <= R.clean, "worst <= clean")
  end
  T.ok(R.worst[2].accuracy <= R.worst[1].accuracy + 1e-12, "a larger eps is not easier")
  T.eq(#R.logits.before, 4, "recorded logits")
  -- the JSON file holds the same results and the provenance
  local doc = fx.json_decode(fx.read(out .. ".json"))
  T.eq(doc.provenance.seed, 3)
  T.eq(doc.provenance.tau_version, tau.version)
  T.ok(doc.provenance.command:find("bin/tau", 1, true), "command recorded")
  T.near(doc.results.clean, R.clean, 1e-9)
  T.eq(#doc.results.pgd, 4)
  T.near(doc.results.worst[2].accuracy, R.worst[2].accuracy, 1e-9)
  T.near(doc.results.transfer[1].accuracy, R.transfer[1].accuracy, 1e-9)
  T.eq(#fx.ls(tmp .. "/results"), 1, "only the JSON file")
  T.eq(model_t2.training, true)
  T.eq(source.training, true)
end)

T.test("evaluate with the optional parts off, printing its table", function()
  local lines = {}
  local real = print
  print = function(...)
    local parts = {}
    for i = 1, select("#", ...) do parts[i] = tostring(select(i, ...)) end
    lines[#lines + 1] = table.concat(parts, "\t")
  end
  local ok, R = pcall(robust.evaluate, model, test_ds, {eps = {0.2}, steps = 2, corruptions = false, apgd = false,
                                                        targeted = false})
  print = real
  if not ok then error(R, 0) end
  T.eq(R.corruption, nil)
  T.eq(#R.apgd_ce, 0)
  T.eq(#R.targeted, 0)
  T.eq(#R.transfer, 0)
  T.eq(#R.pgd, 1, "tau_train 1: PGD once per eps")
  T.eq(R.worst[1].accuracy, math.min(R.pgd[1].accuracy, R.cw[1].accuracy))
  local text = table.concat(lines, "\n")
  T.ok(text:find("clean accuracy", 1, true), "prints the clean accuracy: " .. text)
  T.ok(text:find("worst case", 1, true), "prints the worst case")
  T.raises(function() robust.evaluate(model, test_ds, "x") end, "tau.robust.evaluate: options must be a table")
end)

T.test("a plain function from images to logits is a model too", function()
  model:evaluate()
  local f = function(x) return model(x) end
  local acc = robust.clean_accuracy(f, test_ds)
  model:train()
  T.eq(acc, robust.clean_accuracy(model, test_ds))
  local c = robust.corruption_accuracy(f, test_ds, {names = {"contrast"}, severity = 1})
  T.ok(c.mean >= 0 and c.mean <= 1)
  T.ok(robust.pgd_accuracy(f, test_ds, {eps = 0.5, steps = 5, seed = 1}) < acc, "PGD through a function")
  local R = robust.evaluate(f, test_ds, {eps = {0.2}, steps = 2, corruptions = false, apgd = false, quiet = true,
                                         source_model = source})
  T.eq(#R.transfer, 1)
end)

T.test("cleanup", function() fx.rmdir(tmp) end)
