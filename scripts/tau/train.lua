-- The training loop: tau.train.fit and tau.train.evaluate.
--
-- fit trains a tau.nn model on a tau.data data set with temperature-scaled cross-entropy,
-- shows progress (a bar on a terminal, a line per epoch otherwise), writes per-epoch metrics
-- (CSV and JSON lines), checkpoints atomically, stops cleanly on Ctrl-C at a step boundary with
-- a resumable checkpoint, and resumes exactly: the batch order and augmentation depend only on
-- (seed, epoch, batch number), and the checkpoint holds model, optimizer, schedule, RNG state
-- and the running sums of the interrupted epoch.
local tau = require "tau"
local data = require "tau.data"
local util = require "tau.util"
local raise = util.raise
local with_eval = require("tau.nn.module").with_eval
local F = tau.F
local train = {}

-- Confusion matrix, per-class accuracy, mean loss (cross-entropy at temperature o.tau) and
-- accuracy of model on ds. o: batch, tau, normalize, transform(x, y), limit (the first n
-- images), classes.
local evaluate_opts = tau.options.spec("tau.train.evaluate", {
  batch = {"integer", min = 1, default = 256}, tau = {"number", above = 0, default = 1}, normalize = "table",
  transform = "function", limit = {"integer", min = 0}, classes = {"integer", min = 1}})
function train.evaluate(model, ds, o)
  o = evaluate_opts(o)
  local C = o.classes or ds.classes
  local total_loss, correct, n = 0, 0, 0
  local conf = tau.zeros(C, C)
  -- limit: exactly the first `limit` images, whatever the batch size
  if o.limit and o.limit < ds:size() then ds = ds:subset(o.limit) end
  with_eval(model, tau.no_grad, function()
    for x, y in data.loader(ds, {batch = o.batch, normalize = o.normalize}) do
      if o.transform then x = o.transform(x, y) end
      local logits = model(x)
      total_loss = total_loss + F.cross_entropy(logits, y, {tau = o.tau, reduction = "sum"}):item()
      local pred = logits:argmax(2)
      correct = correct + pred:eq(y):sum():item()
      n = n + y:size(1)
      conf = conf + tau.one_hot(y, C):t():matmul(tau.one_hot(pred, C))
    end
  end)
  local per_class, confusion = {}, conf:int():totable()
  for c = 1, C do
    local row = 0
    for k = 1, C do row = row + confusion[c][k] end
    per_class[c] = row > 0 and confusion[c][c] / row or 0 / 0
  end
  return {accuracy = correct / math.max(n, 1), loss = total_loss / math.max(n, 1), n = n,
          per_class = per_class, confusion = confusion}
end

-- TRADES (Zhang et al. 2019): the adversarial example maximises KL(p(x) || p(x')) inside the
-- eps-ball; the loss is CE(f(x), y) + beta * KL(p(x) || p(x')), all at the model's tau.
local function kl(logp_nat, logits_adv, t)
  local logp_adv = F.log_softmax(logits_adv, {tau = t})
  return (logp_nat:exp() * (logp_nat - logp_adv)):sum() / logits_adv:size(1)
end

local function trades_example(model, x, logp_nat, adv, t)
  return with_eval(model, function()
    local eps, alpha = adv.eps, adv.alpha
    local xa = tau.no_grad(function() return (x + tau.randn(x:size()) * 0.001):clamp(0, 1) end)
    for _ = 1, adv.steps do
      xa = xa:detach():requires_grad()
      local g = tau.grad(kl(logp_nat, model(xa), t), {xa})[1]
      xa = tau.no_grad(function()
        local s = xa + g:sign() * alpha
        return tau.minimum(tau.maximum(s, x - eps), x + eps):clamp(0, 1)
      end)
    end
    return xa:detach()
  end)
end

-- The adversarial options (eps 8/255 as tau.attack's L-inf default, alpha eps/4, 10 steps,
-- beta 6), checked with the others before training starts.
local ADVERSARIAL = {
  method = {"string", choices = {"pgd", "trades"}, default = "pgd"},
  eps = {"number", min = 0, default = 8 / 255}, alpha = {"number", min = 0}, steps = {"integer", min = 1, default = 10},
  beta = {"number", min = 0, default = 6}, tau_attack = {"number", above = 0}}

local function adversarial_loss(model, x, y, adv, t, smoothing)
  local method = adv.method
  if method == "pgd" then
    local xa = tau.attack.pgd(model, x, y, {eps = adv.eps, alpha = adv.alpha, steps = adv.steps,
                                            tau = adv.tau_attack or t, random_start = true})
    local logits = model(xa)
    return F.cross_entropy(logits, y, {tau = t, label_smoothing = smoothing}), logits
  elseif method == "trades" then
    local logits = model(x)
    local logp_nat = tau.no_grad(function() return F.log_softmax(logits, {tau = t}) end)
    local xa = trades_example(model, x, logp_nat, adv, t)
    local loss = F.cross_entropy(logits, y, {tau = t, label_smoothing = smoothing})
                 + kl(F.log_softmax(logits, {tau = t}), model(xa), t) * adv.beta
    return loss, logits
  end
  raise("tau.train.fit: adversarial.method must be 'pgd' or 'trades', got " .. tostring(method))
end

local fit_opts = tau.options.spec("tau.train.fit", {
  epochs = {"integer", min = 0}, batch = {"integer", min = 1}, opt = "table", schedule = "table",
  tau = {"number", above = 0}, seed = "integer", eval_ds = "table", checkpoint = "string|boolean",
  resume = "string|boolean", log = "string", augment = "table", normalize = "table",
  label_smoothing = {"number", min = 0, max = 1}, adversarial = {"table", fields = ADVERSARIAL},
  max_steps = {"integer", min = 1}, eval_limit = {"integer", min = 0}, quiet = "boolean", clip = {"number", above = 0},
  drop_last = "boolean"})

local function default_optimizer(model)
  return tau.optim.SGD(model:parameters(), {lr = 0.05, momentum = 0.9, weight_decay = 5e-4, nesterov = true})
end

local Progress = {}
Progress.__index = Progress

function Progress.new(quiet)
  return setmetatable({tty = tau.isatty(1) and not quiet, quiet = quiet}, Progress)
end

function Progress:update(epoch, epochs, b, nb, loss, acc, rate)
  if not self.tty then return end
  local width = 24
  local done = math.floor(width * b / math.max(nb, 1))
  local eta = rate > 0 and (nb - b) * (self.batch or 1) / rate or 0
  io.stdout:write(string.format("\r\27[Kepoch %d/%d [%s%s] %d/%d loss %.4f acc %5.1f%% %6.0f img/s ETA %s",
                                epoch, epochs, string.rep("=", done), string.rep(" ", width - done), b, nb, loss,
                                100 * acc, rate, util.format_time(eta)))
  io.stdout:flush()
end

function Progress:epoch_line(text)
  if self.tty then io.stdout:write("\r\27[K") end
  if not self.quiet then print(text) end
end

local COLUMNS = {"epoch", "lr", "tau", "train_loss", "train_acc", "eval_loss", "eval_acc", "images_per_s", "seconds"}

local function write_logs(prefix, rows, prov)
  local dir = prefix:match("^(.*)/[^/]*$")
  if dir then util.mkdir(dir) end
  util.write_file(prefix .. ".csv", "# " .. util.json(prov) .. "\n" .. util.csv(rows, COLUMNS))
  local lines = {util.json({provenance = prov})}
  for _, r in ipairs(rows) do lines[#lines + 1] = util.json(r) end
  util.write_file(prefix .. ".jsonl", table.concat(lines, "\n") .. "\n")
end

local function save_checkpoint(path, st)
  local dir = path:match("^(.*)/[^/]*$")
  if dir then util.mkdir(dir) end
  tau.save(path, st)
end

-- fit(model, train_ds, {epochs, batch, opt, schedule, tau, seed, eval_ds, checkpoint, resume,
--                       log, augment, normalize, label_smoothing, adversarial, max_steps,
--                       eval_limit, quiet})
-- returns the list of per-epoch metric rows and a status: "done" or "interrupted".
-- Also: clip (gradient norm), drop_last; adversarial = {method = "pgd" | "trades", eps = 8/255,
-- alpha = eps/4, steps = 10, beta = 6, tau_attack}. Resuming keeps the checkpoint's seed.
function train.fit(model, ds, o)
  -- a misspelt option (lr = 0.1 belongs to the optimizer) is refused, never silently ignored
  o = fit_opts(o)
  local epochs, bs, t = o.epochs or 1, o.batch or 128, o.tau or 1
  local seed = o.seed or 0
  local adv = o.adversarial
  if adv then adv.alpha = adv.alpha or adv.eps / 4 end
  local opt = o.opt or default_optimizer(model)
  local sched = o.schedule
  local rows, start_epoch, start_step = {}, 1, 0
  local carry = {loss = 0, correct = 0, seen = 0, seconds = 0}
  local resume = o.resume
  if resume == true then resume = o.checkpoint end
  if resume then
    local ck = tau.load(resume)
    if not ck.model or not ck.epoch then raise("tau.train.fit: " .. resume .. " is not a training checkpoint") end
    -- the batch order depends on the seed, and a step count on the batch size: resuming with
    -- others would silently train on a different sequence of batches
    if ck.seed ~= nil then
      if o.seed ~= nil and o.seed ~= ck.seed then
        raise(string.format("tau.train.fit: %s was made with seed %s, resuming with seed %s would not be exact",
                            resume, tostring(ck.seed), tostring(o.seed)))
      end
      seed = ck.seed
    end
    if ck.batch ~= nil and ck.batch ~= bs and (ck.step or 0) > 0 then
      raise(string.format("tau.train.fit: %s stopped mid-epoch with batch %s, cannot resume with batch %s",
                          resume, tostring(ck.batch), tostring(bs)))
    end
    model:load_state_dict(ck.model)
    opt:load_state_dict(ck.optim)
    if sched and ck.schedule then sched:load_state_dict(ck.schedule) end
    tau.set_rng_state(ck.rng)
    start_epoch, start_step = ck.epoch, ck.step
    rows = ck.rows or {}
    carry = ck.carry or carry
  else
    tau.manual_seed(seed)
  end
  local prov = util.provenance({seed = seed, tau = t, epochs = epochs, batch = bs})
  local progress = Progress.new(o.quiet)
  progress.batch = bs
  local status = "done"
  local function checkpoint_state(epoch, step, c)
    return {model = model:state_dict(), optim = opt:state_dict(), schedule = sched and sched:state_dict() or nil,
            rng = tau.get_rng_state(), epoch = epoch, step = step, rows = rows, carry = c, seed = seed, batch = bs}
  end
  tau._trap_interrupt(true)
  local ok, err = pcall(function()
    for epoch = start_epoch, epochs do
      model:train()
      local loader = data.loader(ds, {batch = bs, shuffle = true, seed = seed, epoch = epoch, drop_last = o.drop_last,
                                      augment = o.augment, normalize = o.normalize, start = start_step})
      local nb = loader:len()
      if o.max_steps then nb = math.min(nb, o.max_steps) end
      local b = start_step
      local sum_loss, correct, seen = carry.loss, carry.correct, carry.seen
      local t0, seconds0 = util.now(), carry.seconds
      start_step = 0
      carry = {loss = 0, correct = 0, seen = 0, seconds = 0}
      for x, y in loader do
        b = b + 1
        opt:zero_grad()
        local loss, logits
        if o.adversarial then
          loss, logits = adversarial_loss(model, x, y, adv, t, o.label_smoothing)
        else
          logits = model(x)
          loss = F.cross_entropy(logits, y, {tau = t, label_smoothing = o.label_smoothing})
        end
        loss:backward()
        if o.clip then tau.optim.clip_grad_norm(model:parameters(), o.clip) end
        opt:step()
        if sched and sched.per_step then sched:step() end
        local n = y:size(1)
        local lv = loss:item()
        if lv ~= lv then raise("tau.train.fit: the loss became NaN at epoch " .. epoch .. ", step " .. b) end
        sum_loss = sum_loss + lv * n
        correct = correct + tau.no_grad(function() return logits:argmax(2):eq(y):sum():item() end)
        seen = seen + n
        local elapsed = seconds0 + util.now() - t0
        progress:update(epoch, epochs, b, nb, sum_loss / seen, correct / seen, seen / math.max(elapsed, 1e-9))
        if tau._stop_requested() then
          if o.checkpoint ~= false then
            local path = o.checkpoint or "tau-interrupted.safetensors"
            save_checkpoint(path, checkpoint_state(epoch, b, {loss = sum_loss, correct = correct, seen = seen,
                                                              seconds = elapsed}))
            progress:epoch_line(string.format("interrupted at epoch %d, step %d: checkpoint saved to %s (resume = \"%s\")",
                                              epoch, b, path, path))
          end
          status = "interrupted"
          return
        end
        if b >= nb then break end
      end
      local elapsed = seconds0 + util.now() - t0
      local row = {epoch = epoch, lr = opt.lr or (opt.defaults and opt.defaults.lr), tau = t,
                   train_loss = sum_loss / math.max(seen, 1), train_acc = correct / math.max(seen, 1),
                   images_per_s = seen / math.max(elapsed, 1e-9), seconds = elapsed}
      if sched and not sched.per_step then sched:step() end
      if o.eval_ds then
        local ev = train.evaluate(model, o.eval_ds, {batch = math.max(bs, 256), tau = t, normalize = o.normalize,
                                                     limit = o.eval_limit})
        row.eval_loss, row.eval_acc = ev.loss, ev.accuracy
      end
      rows[#rows + 1] = row
      progress:epoch_line(string.format("epoch %d/%d  loss %.4f  acc %.2f%%%s  %.0f img/s  %s", epoch, epochs,
                                        row.train_loss, 100 * row.train_acc,
                                        row.eval_acc and string.format("  eval acc %.2f%%", 100 * row.eval_acc) or "",
                                        row.images_per_s, util.format_time(elapsed)))
      if o.log then write_logs(o.log, rows, prov) end
      if o.checkpoint then save_checkpoint(o.checkpoint, checkpoint_state(epoch + 1, 0, nil)) end
    end
  end)
  tau._trap_interrupt(false)
  if not ok then error(err, 0) end
  return rows, status
end

return train
