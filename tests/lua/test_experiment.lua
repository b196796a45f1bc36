-- tau.experiment, the machinery of the experiment scripts: flag converters, scales filling the
-- flags not given, mean ± std over seeds, the model cache (a model is trained once per
-- setting, and any setting that affects training makes a new one), learning-rate scaling by τ,
-- results stamped with their provenance, and claims whose verdict is computed by their rule.
local T = ...
package.path = "tests/lua/?.lua;" .. package.path
local fx = require "fixtures"
local X = require "tau.experiment"

local tmp = fx.root()

local function experiment(o)
  return X.new{name = "t", description = "test",
               scales = {smoke = {taus = "0.5,2", train_limit = 0, test_limit = 0, epochs = 1, batch = 16}},
               paper_cost = o and o.paper_cost}
end

local function context(extra)
  local root = fx.cifar10_root({per_batch = 8, n_test = 12})
  local argv = {"--scale", "smoke", "--data", "cifar10", "--root", root .. "/cifar-10-batches-bin", "--out", tmp .. "/out",
                "--cache", tmp .. "/cache", "--quiet"}
  for _, a in ipairs(extra or {}) do argv[#argv + 1] = a end
  return experiment():parse(argv)
end

T.test("converters: τ lists, seed counts and lists, with messages for bad input", function()
  T.close(X.numbers("0.1, 1,10"), {0.1, 1, 10})
  T.eq(select(2, X.numbers("1,-2")), "'-2' is not a positive number")
  T.close(X.seeds("3"), {1, 2, 3})
  T.close(X.seeds("4,9"), {4, 9})
  T.ok(select(2, X.seeds("0")):find("expected a count", 1, true))
  T.eq(X.choice("a", "b")("b"), "b")
  T.ok(select(2, X.choice("a", "b")("c")):find("expected one of a, b", 1, true))
end)

T.test("stats: mean, sample std, min, max; pm formats percentages", function()
  local s = X.stats({0.8, 0.9, 1.0})
  T.near(s.mean, 0.9) ; T.near(s.std, 0.1) ; T.eq(s.min, 0.8) ; T.eq(s.max, 1.0) ; T.eq(s.n, 3)
  T.eq(X.stats({0.5}).std, 0)
  T.eq(X.pm(s, true), "90.00 ± 10.00")
  T.raises(function() X.stats({}) end, "tau.experiment.stats: no values")
  T.raises(function() X.stats({1, 0 / 0}) end, "is not a number")
  local by = X.summarise({{tau = 1, a = 0.5}, {tau = 1, a = 0.7}, {tau = 2, a = 0.1}}, function(r) return r.tau end, "a")
  T.near(by[1].mean, 0.6) ; T.eq(by[2].n, 1)
end)

T.test("a scale fills the flags not given; a flag given wins; --help states the paper's cost", function()
  local ctx = context({"--epochs", "2"})
  T.close(ctx.taus, {0.5, 2}, 0, "taus from the smoke preset")
  T.eq(ctx.args.epochs, 2, "explicit --epochs")
  T.eq(ctx.args.batch, 16)
  T.close(ctx.seeds, {1})
  T.eq(ctx.train_ds:size(), 40) ; T.eq(ctx.test_ds:size(), 12)
  local ex = experiment({paper_cost = "about a week"})
  local usage = ex.parser:get_help()
  T.ok(usage:find("Paper scale: about a week", 1, true), usage)
  T.ok(usage:find("[smoke 0.5,2; default", 1, true), "presets in the help: " .. usage)
end)

T.test("subset: a fixed random subset that keeps several classes", function()
  local ds = tau.data.cifar10{root = fx.cifar10_root({per_batch = 20}) .. "/cifar-10-batches-bin"}
  local a, b = X.subset(ds, 30, 0), X.subset(ds, 30, 0)
  T.eq(a:size(), 30)
  T.close(a:labels():totable(), b:labels():totable(), 0, "the same subset each time")
  T.eq(X.subset(ds, 0, 0), ds, "0 keeps everything")
end)

T.test("train: a model is trained once per setting and loaded from the cache after", function()
  local ctx = context()
  local m1, r1 = ctx:train{tau = 2, seed = 1}
  T.eq(r1.cached, false)
  T.ok(r1.train_loss == r1.train_loss and r1.train_acc >= 0, "final training loss and accuracy recorded")
  T.eq(#r1.history, 1, "one epoch of history")
  T.ok(r1.history[1].test_acc ~= nil, "the test curve is recorded")
  local m2, r2 = ctx:train{tau = 2, seed = 1}
  T.eq(r2.cached, true, "second call reads the cache")
  T.eq(r2.test_acc, r1.test_acc)
  T.eq(r2.train_loss, r1.train_loss)
  local x = ctx.test_ds:batch({1, 2, 3})
  T.close(tau.no_grad(function() return m2(x) end), tau.no_grad(function() return m1(x) end), 1e-6)
  local _, r3 = ctx:train{tau = 2, seed = 1, lr = 0.01}
  T.eq(r3.cached, false, "another learning rate is another model")
  local _, r4 = ctx:train{tau = 2, seed = 2}
  T.eq(r4.cached, false, "another seed is another model")
  T.eq(#ctx.records, 4)
  -- another copy of the data set (other pixels, same names and sizes) is another model
  local other = fx.cifar10_root({per_batch = 8, n_test = 12})
  local f = io.open(other .. "/cifar-10-batches-bin/data_batch_1.bin", "r+b")
  f:seek("set", 1); f:write(string.rep("\255", 64)); f:close()
  local ctx2 = context({"--root", other .. "/cifar-10-batches-bin"})
  T.eq(ctx2.train_ds:size(), ctx.train_ds:size())
  local _, r5 = ctx2:train{tau = 2, seed = 1}
  T.eq(r5.cached, false, "the data's fingerprint is part of the key")
  T.raises(function() ctx:train{tau = 2, sed = 1} end, "tau.experiment.train: unknown option 'sed'")
  T.raises(function() ctx:train{tau = -1} end, "tau must be a positive number")
end)

T.test("--lr-scale tau multiplies the SGD rate by τ, not AdamW's; the controls say so", function()
  local ctx = context({"--lr-scale", "tau", "--no-cache"})
  local s = ctx:setting{tau = 4}
  T.near(s.lr, 0.4) ; T.near(s.weight_decay, 5e-4 / 4) ; T.eq(s.lr_scaled, true)
  local a = ctx:setting{tau = 4, optimizer = "adamw"}
  T.near(a.lr, 1e-3) ; T.eq(a.lr_scaled, false)
  local _, r = ctx:train{tau = 4, seed = 1}
  T.near(r.lr, 0.4)
  local c = ctx:controls({r})
  T.eq(c.lr_scale.held, true)
  T.ok(c.training.detail:find("final training", 1, true), c.training.detail)
  T.eq(ctx:controls({r}, {matched_clean = 0.02}).matched_clean.held, true, "one model matches itself")
end)

T.test("results: CSV and JSON with provenance; claims with a computed verdict; figures listed", function()
  local ctx = context()
  ctx:write("table", {{tau = 1, acc = 0.5}, {tau = 2, acc = 0.25}}, {"tau", "acc"})
  local csv = fx.lines(tmp .. "/out/table.csv")
  T.ok(csv[1]:match("^# {"), csv[1])
  T.eq(csv[2], "tau,acc") ; T.eq(csv[3], "1,0.5")
  local prov = fx.json_decode(csv[1]:sub(3))
  T.eq(prov.scale, "smoke") ; T.eq(prov.seed, 1)
  T.ok(prov.command and prov.tau_version, "command and version")
  local c = ctx:claim{id = "x", claim = "c", statement = "s", rule = "supported when a > b", numbers = {a = 2, b = 1},
                      verdict = function(n) return n.a > n.b and "supported" or "not supported" end}
  T.eq(c.verdict, "supported")
  T.raises(function()
    ctx:claim{id = "y", claim = "c", statement = "s", rule = "r", numbers = {}, verdict = function() return "yes" end}
  end, "verdict rule of y gave yes")
  T.raises(function() ctx:claim{id = "z", claim = "c", statement = "s", rule = "r", verdict = "supported"} end,
           "verdict must be a function")
  ctx:finish()
  local claims = fx.json_decode(fx.read(tmp .. "/out/claims.json"))
  T.eq(#claims.claims, 1) ; T.eq(claims.claims[1].verdict, "supported") ; T.eq(claims.claims[1].scale, "smoke")
  local run = fx.json_decode(fx.read(tmp .. "/out/results.json"))
  T.eq(run.files[1], "table.csv")
end)

T.test("bad flags: a message naming the flag", function()
  local ok, err = experiment().parser:pparse({"--taus", "1,x"})
  T.eq(ok, false)
  T.ok(err:find("'x' is not a positive number", 1, true), err)
  ok, err = experiment().parser:pparse({"--lr-scale", "sqrt"})
  T.ok(not ok and err:find("expected one of none, tau", 1, true), tostring(err))
end)
