-- tau.train.fit / evaluate: learning on generated data, metric rows and log files, evaluation
-- against a hand computation, bit-exact resume (after an epoch, after a stop mid-epoch, and
-- after a real Ctrl-C in a separate process), schedules, label smoothing, adversarial training,
-- and the errors a user meets.
local T = ...
package.path = "tests/lua/?.lua;" .. package.path
local fx = require "fixtures"
local F = tau.F

local tmp = fx.root()
local train_ds, test_ds, data_root = fx.learnable{n = 256, n_test = 64}

local function cnn(seed)
  if seed then tau.manual_seed(seed) end
  return tau.models.cnn{channels = 1, classes = 10, image = 12, width = 4, hidden = 16, dropout = 0.25}
end

local function mlp(seed)
  if seed then tau.manual_seed(seed) end
  return fx.mlp{classes = 10}
end

local function sgd(model, lr)
  return tau.optim.SGD(model:parameters(), {lr = lr or 0.05, momentum = 0.9, nesterov = true, weight_decay = 5e-4})
end

-- Rows without the timing columns, which differ from run to run.
local function losses(rows)
  local out = {}
  for i, r in ipairs(rows) do
    out[i] = {epoch = r.epoch, lr = r.lr, tau = r.tau, train_loss = r.train_loss, train_acc = r.train_acc,
              eval_loss = r.eval_loss, eval_acc = r.eval_acc}
  end
  return out
end

local function same_rows(a, b, what)
  a, b = losses(a), losses(b)
  T.eq(#b, #a, what .. ": number of rows")
  for i = 1, #a do
    for k, v in pairs(a[i]) do T.eq(b[i][k], v, string.format("%s: row %d %s", what, i, k)) end
  end
end

local function same_weights(a, b, what)
  local ok, key = fx.same_state(a, b)
  T.ok(ok, what .. ": state differs at " .. tostring(key))
end

-- Runs fit with tau._stop_requested answering true after `at` steps (counted across the run),
-- as Ctrl-C would at that step boundary.
local function fit_stopping_at(at, model, ds, o)
  local real, steps = tau._stop_requested, 0
  tau._stop_requested = function()
    steps = steps + 1
    return steps == at
  end
  local ok, rows, status = pcall(tau.train.fit, model, ds, o)
  tau._stop_requested = real
  if not ok then error(rows, 0) end
  return rows, status
end

T.test("fit learns a small data set; rows per epoch; status done", function()
  local model = mlp(1)
  local rows, status = tau.train.fit(model, train_ds, {epochs = 3, batch = 32, opt = sgd(model, 0.1), quiet = true,
                                                       eval_ds = test_ds})
  T.eq(status, "done")
  T.eq(#rows, 3)
  for i, r in ipairs(rows) do
    T.eq(r.epoch, i)
    T.eq(r.tau, 1)
    T.near(r.lr, 0.1)
    for _, k in ipairs{"train_loss", "train_acc", "eval_loss", "eval_acc", "images_per_s", "seconds"} do
      T.eq(type(r[k]), "number", "row " .. i .. " " .. k)
    end
  end
  T.ok(rows[3].train_acc >= 0.95, "train accuracy " .. rows[3].train_acc)
  T.ok(rows[3].eval_acc >= 0.9, "eval accuracy " .. rows[3].eval_acc)
  T.ok(rows[3].train_loss < rows[1].train_loss, "loss falls")
  T.eq(model.training, true, "left in training mode")
  -- a CNN (batch norm, dropout) with the default optimizer learns too
  local c = cnn(2)
  rows = tau.train.fit(c, train_ds, {epochs = 3, batch = 32, quiet = true})
  T.ok(rows[3].train_acc >= 0.9, "cnn train accuracy " .. rows[3].train_acc)
end)

T.test("fit writes CSV (with a provenance line) and JSON-lines logs", function()
  local model = mlp(1)
  local prefix = tmp .. "/logs/deeper/run"
  local rows = tau.train.fit(model, train_ds, {epochs = 2, batch = 64, opt = sgd(model), quiet = true, seed = 7,
                                               tau = 2, log = prefix, eval_ds = test_ds})
  local csv = fx.lines(prefix .. ".csv")
  T.eq(#csv, 4, "provenance, header and 2 rows")
  T.ok(csv[1]:match("^# {"), "provenance comment: " .. csv[1])
  local prov = fx.json_decode(csv[1]:sub(3))
  T.ok(prov.command:find("bin/tau", 1, true), "command recorded: " .. tostring(prov.command))
  T.eq(prov.seed, 7)
  T.eq(prov.tau, 2)
  T.eq(prov.tau_version, tau.version)
  T.eq(csv[2], "epoch,lr,tau,train_loss,train_acc,eval_loss,eval_acc,images_per_s,seconds")
  local f = {}
  for v in (csv[4] .. ","):gmatch("([^,]*),") do f[#f + 1] = v end
  T.eq(#f, 9)
  T.eq(f[1], "2")
  T.eq(tonumber(f[3]), 2)
  T.near(tonumber(f[4]), rows[2].train_loss, 1e-5)
  local jl = fx.lines(prefix .. ".jsonl")
  T.eq(#jl, 3)
  T.eq(fx.json_decode(jl[1]).provenance.seed, 7)
  local r2 = fx.json_decode(jl[3])
  T.eq(r2.epoch, 2)
  T.near(r2.train_loss, rows[2].train_loss, 1e-8)
  T.near(r2.eval_acc, rows[2].eval_acc, 1e-8)
  T.eq(#fx.ls(tmp .. "/logs/deeper"), 2, "only the two logs (no temporary files)")
end)

T.test("evaluate agrees with a computation by hand (accuracy, loss at tau, per class, confusion)", function()
  local model = mlp(3)
  tau.train.fit(model, train_ds, {epochs = 1, batch = 64, opt = sgd(model, 0.02), quiet = true})
  for _, t in ipairs{1, 3} do
    local ev = tau.train.evaluate(model, test_ds, {tau = t, batch = 10})
    T.eq(model.training, true, "training mode restored")
    model:evaluate()
    local x, y = test_ds:batch((function() local p = {} for i = 1, test_ds:size() do p[i] = i end return p end)())
    local logits = tau.no_grad(function() return model(x) end)
    model:train()
    local pred, ys = logits:argmax(2):totable(), y:totable()
    local conf = {}
    for a = 1, 10 do conf[a] = {} for b = 1, 10 do conf[a][b] = 0 end end
    local correct = 0
    for i = 1, #ys do
      conf[ys[i]][pred[i]] = conf[ys[i]][pred[i]] + 1
      if ys[i] == pred[i] then correct = correct + 1 end
    end
    T.eq(ev.n, 64)
    T.near(ev.accuracy, correct / 64, 1e-12)
    T.near(ev.loss, F.cross_entropy(logits, y, {tau = t}):item(), 1e-5, "mean cross-entropy at tau " .. t)
    for a = 1, 10 do
      local row = 0
      for b = 1, 10 do
        T.eq(ev.confusion[a][b], conf[a][b], string.format("confusion[%d][%d]", a, b))
        row = row + conf[a][b]
      end
      if row > 0 then T.near(ev.per_class[a], conf[a][a] / row, 1e-12)
      else T.ok(ev.per_class[a] ~= ev.per_class[a], "absent class " .. a .. " is NaN") end
    end
  end
  -- limit: exactly the first images; transform and normalize apply before the model
  local ev = tau.train.evaluate(model, test_ds, {limit = 10, batch = 4})
  T.eq(ev.n, 10)
  local sub = tau.train.evaluate(model, test_ds:subset(10))
  T.eq(ev.accuracy, sub.accuracy)
  local zeros = tau.train.evaluate(model, test_ds, {transform = function(x) return x * 0 end})
  local norm = tau.train.evaluate(model, test_ds, {normalize = {mean = {0}, std = {1}}})
  T.eq(norm.accuracy, tau.train.evaluate(model, test_ds).accuracy, "identity normalisation")
  T.ok(zeros.accuracy < 0.5, "blank images are not recognised: " .. zeros.accuracy)
end)

T.test("resume after an epoch is exact: 2 epochs == 1 epoch + checkpoint + resume into a new model", function()
  local o = {epochs = 2, batch = 32, seed = 11, quiet = true, augment = {crop = 1, flip = true}, eval_ds = test_ds}
  local function run(model, extra)
    local opt = sgd(model)
    local sched = tau.optim.cosine(opt, {epochs = 2, steps_per_epoch = 8})
    local a = {opt = opt, schedule = sched}
    for k, v in pairs(o) do a[k] = v end
    for k, v in pairs(extra or {}) do a[k] = v end
    return tau.train.fit(model, train_ds, a)
  end
  local full = cnn(5)
  local rows_full = run(full)
  local ck = tmp .. "/resume/ck.safetensors"
  local first = cnn(5)
  local rows1 = run(first, {epochs = 1, checkpoint = ck})
  T.eq(#rows1, 1)
  T.ok(fx.exists(ck), "checkpoint written")
  local ckt = tau.load(ck)
  T.eq(ckt.epoch, 2, "the checkpoint starts the next epoch")
  T.eq(ckt.step, 0)
  local again = cnn(99)
  T.ok(not fx.same_state(again, full), "a fresh model differs")
  local rows2 = run(again, {resume = ck})
  same_rows(rows_full, rows2, "rows")
  same_weights(full, again, "weights")
  -- resume = true reads the checkpoint option
  local third = cnn(42)
  same_rows(rows_full, run(third, {checkpoint = ck, resume = true}), "resume = true")
  -- without a seed the checkpoint's is used; another seed would not be exact
  local fourth = cnn(43)
  local a = {opt = sgd(fourth), resume = ck, epochs = 2, batch = 32, quiet = true, augment = o.augment,
             eval_ds = test_ds}
  a.schedule = tau.optim.cosine(a.opt, {epochs = 2, steps_per_epoch = 8})
  same_rows(rows_full, tau.train.fit(fourth, train_ds, a), "resume without the seed option")
  T.raises(function() run(cnn(1), {resume = ck, seed = 12}) end, "tau.train.fit: " .. ck,
           "made with seed 11, resuming with seed 12 would not be exact")
end)

T.test("a stop mid-epoch saves a checkpoint; resuming it is exact", function()
  local base = {epochs = 2, batch = 32, seed = 4, quiet = true, augment = {crop = 2}, label_smoothing = 0.05}
  local function opts(model, extra)
    local opt = tau.optim.Adam(model:parameters(), {lr = 0.01})
    local a = {opt = opt, schedule = tau.optim.multistep(opt, {milestones = {1}, gamma = 0.5})}
    for k, v in pairs(base) do a[k] = v end
    for k, v in pairs(extra) do a[k] = v end
    return a
  end
  local full = cnn(8)
  local rows_full = tau.train.fit(full, train_ds, opts(full, {}))
  for _, at in ipairs{3, 8, 13} do
    local ck = string.format("%s/stop%d.safetensors", tmp, at)
    local m = cnn(8)
    local rows, status = fit_stopping_at(at, m, train_ds, opts(m, {checkpoint = ck}))
    T.eq(status, "interrupted", "stopped at step " .. at)
    T.eq(#rows, at <= 8 and 0 or 1, "finished epochs before step " .. at)
    local c = tau.load(ck)
    T.eq(c.epoch, at <= 8 and 1 or 2)
    T.eq(c.step, (at - 1) % 8 + 1)
    local resumed = cnn(123)
    local rows2, status2 = tau.train.fit(resumed, train_ds, opts(resumed, {resume = ck}))
    T.eq(status2, "done")
    same_rows(rows_full, rows2, "rows after a stop at step " .. at)
    same_weights(full, resumed, "weights after a stop at step " .. at)
  end
  -- a step count means nothing with another batch size
  local m0 = cnn(8)
  local ck0 = tmp .. "/stop3.safetensors"
  T.raises(function() tau.train.fit(m0, train_ds, opts(m0, {resume = ck0, batch = 16})) end,
           "stopped mid-epoch with batch 32, cannot resume with batch 16")
  -- checkpoint = false: stop without writing anything
  local m = cnn(8)
  local before = #fx.ls(tmp)
  local _, status = fit_stopping_at(2, m, train_ds, opts(m, {checkpoint = false}))
  T.eq(status, "interrupted")
  T.eq(#fx.ls(tmp), before, "no file written")
end)

-- A child process that trains and, in "interrupt" mode, writes `ready` after 5 steps and
-- waits (at most 20 s) for `go`, which the shell creates after sending SIGINT.
local CHILD = [[
package.path = "tests/lua/?.lua;" .. package.path
local fx = require "fixtures"
local mode, root, out, ck, ready, go = arg[1], arg[2], arg[3], arg[4], arg[5], arg[6]
local ds = tau.data.mnist{root = root}
tau.manual_seed(3)
local model = tau.models.cnn{channels = 1, classes = 10, image = 12, width = 4, hidden = 16, dropout = 0.25}
local opt = tau.optim.SGD(model:parameters(), {lr = 0.05, momentum = 0.9})
local sched = tau.optim.cosine(opt, {epochs = 2, steps_per_epoch = 8})
if mode == "interrupt" then
  local real, n = opt.step, 0
  opt.step = function(self, ...)
    local r = real(self, ...)
    n = n + 1
    if n == 5 then
      fx.write(ready, "ready")
      local t0 = tau.time()
      while not fx.exists(go) and tau.time() - t0 < 20 do end
    end
    return r
  end
end
local rows, status = tau.train.fit(model, ds, {epochs = 2, batch = 32, opt = opt, schedule = sched, seed = 5,
                                               checkpoint = ck, resume = mode == "resume" and ck or nil})
print("status " .. status)
tau.save(out, {model = model:state_dict(), rows = rows})
]]

T.test("Ctrl-C (SIGINT) in a training process: clean exit, message, checkpoint, exact resume", function()
  local d = fx.tmpdir()
  local script = d .. "/child.lua"
  fx.write(script, CHILD)
  local exe = fx.tau_bin()
  local q = fx.quote
  local function child(mode, out, ck)
    return table.concat({q(exe), q(script), mode, q(data_root), q(out), q(ck), q(d .. "/ready"), q(d .. "/go")}, " ")
  end
  -- the reference: two epochs without a stop
  local log_full = d .. "/full.txt"
  T.ok(fx.sh(child("full", d .. "/full.safetensors", d .. "/full-ck.safetensors") .. " > " .. q(log_full) .. " 2>&1"),
       "reference run: " .. tostring(fx.read(log_full)))
  -- interrupted: the shell waits for the ready file, sends SIGINT, then lets the child go on
  local ck = d .. "/ck.safetensors"
  local log = d .. "/int.txt"
  local cmd = child("interrupt", d .. "/int.safetensors", ck) .. " > " .. q(log) .. " 2>&1 & pid=$!; " ..
              "i=0; while [ ! -f " .. q(d .. "/ready") .. " ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; " ..
              "kill -INT $pid; touch " .. q(d .. "/go") .. "; wait $pid; echo \"exit $?\" >> " .. q(log)
  fx.sh(cmd)
  local text = fx.read(log) or ""
  T.ok(text:find("exit 0", 1, true), "clean exit: " .. text)
  T.ok(text:find("interrupted at epoch 1, step 5: checkpoint saved to " .. ck, 1, true), "message: " .. text)
  T.ok(text:find("status interrupted", 1, true), "fit returned 'interrupted': " .. text)
  T.ok(not text:find("traceback", 1, true), "no error: " .. text)
  T.ok(fx.exists(ck), "checkpoint left")
  local c = tau.load(ck)
  T.eq(c.epoch, 1)
  T.eq(c.step, 5)
  for _, f in ipairs(fx.ls(d)) do T.ok(not f:find("%.tmp%."), "temporary file left: " .. f) end
  -- resuming completes with the result of the uninterrupted run
  local log2 = d .. "/resume.txt"
  T.ok(fx.sh(child("resume", d .. "/resumed.safetensors", ck) .. " > " .. q(log2) .. " 2>&1"),
       "resumed run: " .. tostring(fx.read(log2)))
  T.ok((fx.read(log2) or ""):find("status done", 1, true), "resumed run finishes")
  local full, resumed = tau.load(d .. "/full.safetensors"), tau.load(d .. "/resumed.safetensors")
  same_rows(full.rows, resumed.rows, "rows")
  for k, v in pairs(full.model) do T.ok(tau.equal(v, resumed.model[k]), "weight " .. k) end
end)

T.test("options: clip, drop_last, normalize, eval_limit, max_steps", function()
  local function run(extra)
    local m = mlp(4)
    local opt = sgd(m, 0.1)
    local sched = tau.optim.cosine(opt, {epochs = 1, steps_per_epoch = 100})
    local a = {epochs = 1, batch = 100, opt = opt, schedule = sched, quiet = true}
    for k, v in pairs(extra) do a[k] = v end
    local rows = tau.train.fit(m, train_ds, a)
    return rows[1], sched.last_step
  end
  local plain, steps = run({})
  T.eq(steps, 3, "256 images in batches of 100: 3 steps")
  local _, dropped = run({drop_last = true})
  T.eq(dropped, 2, "drop_last skips the partial batch")
  local _, capped = run({max_steps = 1})
  T.eq(capped, 1)
  local clipped = run({clip = 1e-3})
  T.ok(clipped.train_loss ~= plain.train_loss, "clipping changes the updates")
  local normed = run({normalize = {mean = {0.5}, std = {0.5}}})
  T.ok(normed.train_loss ~= plain.train_loss, "normalisation changes the inputs")
  local ev = run({eval_ds = test_ds, eval_limit = 10})
  T.near(ev.eval_acc * 10, math.floor(ev.eval_acc * 10 + 0.5), 1e-9, "evaluated on exactly 10 images")
end)

T.test("progress: a bar on a terminal, a line per epoch otherwise, nothing when quiet", function()
  if not fx.sh("command -v script >/dev/null 2>&1") then T.skip("no 'script' command to run under a terminal") end
  local d = fx.tmpdir()
  local child = d .. "/progress.lua"
  fx.write(child, ([[
    package.path = "tests/lua/?.lua;" .. package.path
    local fx = require "fixtures"
    local ds = tau.data.mnist{root = %q}
    tau.manual_seed(1)
    local m = fx.mlp{classes = 10}
    tau.train.fit(m, ds, {epochs = 2, batch = 64, quiet = arg[1] == "quiet"})
    print("finished")
  ]]):format(data_root))
  local function run(how, mode)
    local out = d .. "/" .. how .. mode .. ".txt"
    local cmd = fx.quote(fx.tau_bin()) .. " " .. fx.quote(child) .. " " .. mode
    if how == "tty" then cmd = "script -qec " .. fx.quote(cmd) .. " /dev/null" end
    fx.sh(cmd .. " > " .. fx.quote(out) .. " 2>&1 < /dev/null")
    return fx.read(out) or ""
  end
  local tty = run("tty", "loud")
  T.ok(tty:find("\r\27%[Kepoch 1/2 %[=*%s*%] %d/4 loss"), "a bar redrawn in place: " .. tty)
  T.ok(tty:find("img/s ETA %d+:%d%d"), "rate and ETA: " .. tty)
  T.ok(tty:find("epoch 2/2  loss", 1, true), "a line per epoch: " .. tty)
  local pipe = run("pipe", "loud")
  T.ok(not pipe:find("\27", 1, true), "no escape codes into a file: " .. pipe)
  local _, n = pipe:gsub("epoch %d/2  loss", "")
  T.eq(n, 2, "one line per epoch: " .. pipe)
  local quiet = run("tty", "quiet")
  T.ok(not quiet:find("epoch", 1, true) and quiet:find("finished", 1, true), "quiet prints nothing: " .. quiet)
end)

T.test("schedules step per epoch or per step; rows record the rate", function()
  local m = mlp(1)
  local opt = sgd(m, 0.1)
  local sched = tau.optim.multistep(opt, {milestones = {1, 2}, gamma = 0.5})
  local rows = tau.train.fit(m, train_ds, {epochs = 3, batch = 64, opt = opt, schedule = sched, quiet = true})
  T.near(rows[1].lr, 0.1)
  T.near(rows[2].lr, 0.05)
  T.near(rows[3].lr, 0.025)
  T.eq(sched.last_step, 3, "stepped once per epoch")
  local m2 = mlp(1)
  local opt2 = sgd(m2, 0.1)
  local cos = tau.optim.cosine(opt2, {epochs = 2, steps_per_epoch = 4})
  rows = tau.train.fit(m2, train_ds, {epochs = 2, batch = 64, opt = opt2, schedule = cos, quiet = true})
  T.eq(cos.last_step, 8, "stepped after every optimiser step")
  T.near(rows[1].lr, 0.1 * 0.5 * (1 + math.cos(math.pi * 4 / 8)), 1e-6)
  T.near(rows[2].lr, 0, 1e-9)
  -- max_steps caps each epoch
  local m3 = mlp(1)
  local opt3 = sgd(m3, 0.1)
  local cos3 = tau.optim.cosine(opt3, {epochs = 2, steps_per_epoch = 2})
  tau.train.fit(m3, train_ds, {epochs = 2, batch = 32, opt = opt3, schedule = cos3, quiet = true, max_steps = 2})
  T.eq(cos3.last_step, 4)
end)

T.test("label smoothing changes the loss and keeps it above the smoothed entropy", function()
  local function run(ls)
    local m = mlp(6)
    return tau.train.fit(m, train_ds, {epochs = 3, batch = 32, opt = sgd(m, 0.1), quiet = true, label_smoothing = ls})
  end
  local plain, smooth = run(nil), run(0.2)
  T.ok(plain[1].train_loss ~= smooth[1].train_loss, "the loss differs")
  -- the smoothed target over 10 classes has entropy > 0.7: the loss cannot go below it
  T.ok(smooth[3].train_loss > 0.7, "smoothed loss " .. smooth[3].train_loss)
  T.ok(plain[3].train_loss < 0.1, "plain loss " .. plain[3].train_loss)
  T.ok(smooth[3].train_acc > 0.9, "still learns")
end)

T.test("adversarial training (pgd, trades) runs and changes the loss", function()
  local function run(adv, t)
    local m = mlp(9)
    return tau.train.fit(m, train_ds, {epochs = 1, batch = 32, opt = sgd(m, 0.05), quiet = true, max_steps = 3,
                                       adversarial = adv, tau = t})[1]
  end
  local clean = run(nil)
  local pgd = run({method = "pgd", eps = 0.1, steps = 3})
  local trades = run({method = "trades", eps = 0.1, steps = 2, beta = 6})
  local pgd_t = run({method = "pgd", eps = 0.1, steps = 3, tau_attack = 5}, 2)
  for name, r in pairs{pgd = pgd, trades = trades, pgd_t = pgd_t} do
    T.ok(r.train_loss == r.train_loss and r.train_loss < math.huge, name .. " loss is finite")
    T.ok(r.train_loss ~= clean.train_loss, name .. " loss differs from clean training")
  end
  T.ok(pgd.train_loss > clean.train_loss, "adversarial examples raise the loss")
  -- the defaults (eps 8/255, 10 steps) are enough to run
  local d_pgd, d_trades = run({method = "pgd"}), run({method = "trades"})
  T.ok(d_pgd.train_loss ~= clean.train_loss and d_trades.train_loss ~= clean.train_loss, "default options")
  T.ok(run({}).train_loss == d_pgd.train_loss, "pgd is the default method")
  T.raises(function() run({method = "fgsm"}) end, "tau.train.fit: adversarial.method must be 'pgd' or 'trades', got fgsm")
  T.raises(function() run({eps = -1}) end, "tau.train.fit: adversarial.eps must be a non-negative number, got -1")
  T.raises(function() run({steps = 0}) end, "tau.train.fit: adversarial.steps must be a positive integer, got 0")
  T.raises(function() run({epsilon = 0.1}) end, "tau.train.fit: unknown adversarial option 'epsilon'")
  T.raises(function() run(true) end, "tau.train.fit: adversarial must be a table, got boolean")
end)

T.test("errors: NaN loss, bad tau, not a checkpoint; the Ctrl-C trap is released", function()
  local m = mlp(1)
  tau.no_grad(function() m:parameters()[1]:fill_(0 / 0) end)
  T.raises(function() tau.train.fit(m, train_ds, {epochs = 1, batch = 32, quiet = true}) end,
           "tau.train.fit: the loss became NaN at epoch 1, step 1")
  T.raises(function() tau.train.fit(mlp(1), train_ds, {tau = 0, quiet = true}) end, "tau.train.fit: tau must be a positive number, got 0")
  T.raises(function() tau.train.fit(mlp(1), train_ds, {tau = -1, quiet = true}) end, "tau must be a positive number")
  local p = tmp .. "/plain.safetensors"
  tau.save(p, {w = tau.ones(2)})
  T.raises(function() tau.train.fit(mlp(1), train_ds, {resume = p, quiet = true}) end, p, "is not a training checkpoint")
  T.raises(function() tau.train.fit(mlp(1), train_ds, {resume = tmp .. "/none.safetensors", quiet = true}) end,
           "tau.load: cannot open")
  T.raises(function() tau.train.fit(mlp(1), train_ds, {lr = 0.1, quiet = true}) end, "tau.train.fit: unknown option 'lr'")
  T.raises(function() tau.train.fit(mlp(1), train_ds, "fast") end, "tau.train.fit: options must be a table, got string")
  T.raises(function() tau.train.evaluate(mlp(1), test_ds, {batch_size = 4}) end,
           "tau.train.evaluate: unknown option 'batch_size'")
  T.raises(function() tau.train.fit(mlp(1), train_ds, {augment = {crop = 1, flipp = true}, quiet = true}) end,
           "unknown augment option 'flipp'")
  -- after an error the trap is off again: a new trap can be set and cleared
  tau._trap_interrupt(true)
  T.eq(tau._stop_requested(), false)
  tau._trap_interrupt(false)
end)

T.test("cleanup", function() fx.rmdir(tmp) end)
