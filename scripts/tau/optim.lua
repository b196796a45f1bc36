-- tau.optim: SGD, Adam, AdamW over fused C kernels, learning-rate schedules and gradient
-- clipping, with PyTorch's update formulas.
--
--   local opt = optim.SGD(model:parameters(), {lr = 0.1, momentum = 0.9, weight_decay = 5e-4})
--   local sched = optim.cosine(opt, {epochs = 30, warmup = 1, steps_per_epoch = #loader})
--   ... loss:backward(); opt:step(); opt:zero_grad(); sched:step() ...
--
-- params is a list of tensors, or a list of groups {params = {...}, lr = ..., ...} whose
-- options override the defaults. Parameters without a gradient are skipped by step().
local tau = require "tau"
local raise = require("tau.util").raise

local optim = {}

local sgd_step, adam_step, clip = tau._sgd_step, tau._adam_step, tau._clip_grad_norm

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = type(v) == "table" and copy(v) or v end
  return c
end

local function check_beta(v, what, fn)
  if type(v) ~= "number" or not (v >= 0 and v < 1) then
    raise(string.format("%s: %s must be a number in [0, 1), got %s", fn, what, tostring(v)))
  end
end

-------------------------------------------------------------------------------- Optimizer

local Optimizer = {}
Optimizer.__index = Optimizer
optim.Optimizer = Optimizer

-- A new optimiser class. spec declares its options (with their defaults, filled into each
-- group); a group may override any of them. validate(group, fn) checks what spans several keys.
local function class(name, spec, validate)
  local cls = setmetatable({}, {__index = Optimizer})
  -- opt.lr reads the first group's current rate, for logging
  cls.__index = function(self, k)
    if k == "lr" then return self.param_groups[1].lr end
    return cls[k]
  end
  cls.__name = name
  cls.check_opts = tau.options.spec("tau.optim." .. name, spec)
  local group_spec = {params = "table", initial_lr = "number"}
  for k, v in pairs(spec) do
    group_spec[k] = type(v) == "table" and {v[1], min = v.min, max = v.max} or v -- no defaults in a group
  end
  cls.check_group = tau.options.spec("tau.optim." .. name .. " (parameter group)", group_spec)
  cls.defaults = cls.check_opts({})
  cls.validate = validate
  return setmetatable(cls, {__index = Optimizer, __call = function(c, params, opts) return c.new(c, params, opts) end})
end

function Optimizer.new(cls, params, opts)
  local fn = "tau.optim." .. cls.__name
  if type(params) ~= "table" then raise(fn .. ": params must be a list of tensors or of groups, got " .. type(params)) end
  opts = cls.check_opts(opts)
  local self = setmetatable({param_groups = {}, state = {}, fn = fn}, cls)
  local groups = params
  local first = params[1]
  if not (type(first) == "table" and getmetatable(first) == nil and first.params ~= nil) then
    groups = {{params = params}}
  end
  local seen = {}
  for gi, g in ipairs(groups) do
    if type(g) ~= "table" or type(g.params) ~= "table" then
      raise(string.format("%s: group %d must be a table with a list 'params'", fn, gi))
    end
    cls.check_group(g)
    local group = {}
    for k, v in pairs(opts) do group[k] = type(v) == "table" and copy(v) or v end
    for k, v in pairs(g) do if k ~= "params" then group[k] = type(v) == "table" and copy(v) or v end end
    group.params = {}
    for i, p in ipairs(g.params) do
      if not tau.is_tensor(p) then
        raise(string.format("%s: parameter %d of group %d is not a tensor (%s)", fn, i, gi, type(p)))
      end
      if seen[p] then raise(string.format("%s: parameter %d of group %d appears more than once", fn, i, gi)) end
      seen[p] = true
      group.params[i] = p
    end
    if group.lr == nil then raise(fn .. ": a learning rate 'lr' is required") end
    cls.validate(group, fn)
    group.initial_lr = group.initial_lr or group.lr
    self.param_groups[gi] = group
  end
  return self
end

function Optimizer:zero_grad()
  for _, g in ipairs(self.param_groups) do
    for _, p in ipairs(g.params) do p:zero_grad() end
  end
end

function Optimizer:get_lr() return self.param_groups[1].lr end

function Optimizer:set_lr(lr)
  for _, g in ipairs(self.param_groups) do g.lr = lr end
end

-- step(closure): closure recomputes the loss with gradients (run before the update); its
-- value is returned.
function Optimizer:step(closure)
  local loss
  if closure then loss = closure() end
  for _, g in ipairs(self.param_groups) do self:update(g) end
  return loss
end

local STATE_KEYS = {"momentum_buffer", "exp_avg", "exp_avg_sq", "max_exp_avg_sq", "step"}

-- A snapshot: state tensors are cloned, parameters referred to by their 1-based position
-- across the groups, so it loads into an optimiser built the same way on another model.
function Optimizer:state_dict()
  local state, groups, idx = {}, {}, 0
  for gi, g in ipairs(self.param_groups) do
    local group = {}
    for k, v in pairs(g) do
      if k ~= "params" then group[k] = type(v) == "table" and copy(v) or v end
    end
    group.params = {}
    for _, p in ipairs(g.params) do
      idx = idx + 1
      group.params[#group.params + 1] = idx
      local st = self.state[p]
      if st then
        local s = {}
        for _, k in ipairs(STATE_KEYS) do
          local v = st[k]
          if tau.is_tensor(v) then s[k] = v:clone() else s[k] = v end
        end
        state[idx] = s
      end
    end
    groups[gi] = group
  end
  return {state = state, param_groups = groups}
end

function Optimizer:load_state_dict(sd)
  local fn = self.fn .. ":load_state_dict"
  if type(sd) ~= "table" or type(sd.param_groups) ~= "table" or type(sd.state) ~= "table" then
    raise(fn .. ": expected a table {state = ..., param_groups = ...} from state_dict()")
  end
  if #sd.param_groups ~= #self.param_groups then
    raise(string.format("%s: the state has %d parameter groups, this optimiser %d", fn, #sd.param_groups,
                        #self.param_groups))
  end
  local by_index = {}
  for gi, g in ipairs(self.param_groups) do
    local sg = sd.param_groups[gi]
    if #sg.params ~= #g.params then
      raise(string.format("%s: group %d has %d parameters in the state, %d in this optimiser", fn, gi,
                          #sg.params, #g.params))
    end
    for i, p in ipairs(g.params) do by_index[sg.params[i]] = p end
  end
  for idx, s in pairs(sd.state) do
    local p = by_index[idx]
    if not p then raise(string.format("%s: state for parameter %s, which no group lists", fn, tostring(idx))) end
    for _, k in ipairs(STATE_KEYS) do
      local v = s[k]
      if tau.is_tensor(v) and table.concat(v:size(), "x") ~= table.concat(p:size(), "x") then
        raise(string.format("%s: %s of parameter %d has size [%s], the parameter [%s]", fn, k, idx,
                            table.concat(v:size(), ", "), table.concat(p:size(), ", ")))
      end
    end
  end
  self.state = {}
  for gi, g in ipairs(self.param_groups) do
    for k, v in pairs(sd.param_groups[gi]) do
      if k ~= "params" then g[k] = type(v) == "table" and copy(v) or v end
    end
  end
  for idx, s in pairs(sd.state) do
    local st = {}
    for _, k in ipairs(STATE_KEYS) do
      local v = s[k]
      if tau.is_tensor(v) then st[k] = v:float():contiguous():clone() else st[k] = v end
    end
    self.state[by_index[idx]] = st
  end
end

-------------------------------------------------------------------------------- SGD

-- SGD with momentum as PyTorch: buf = momentum * buf + (1 - dampening) * (g + wd * p), the
-- first buffer being the gradient itself; nesterov steps along g + momentum * buf.
local SGD = class("SGD", {lr = {"number", min = 0}, momentum = {"number", min = 0, default = 0},
                         dampening = {"number", default = 0}, weight_decay = {"number", min = 0, default = 0},
                         nesterov = {"boolean", default = false}},
  function(g, fn)
    if g.nesterov and (g.momentum <= 0 or g.dampening ~= 0) then
      raise(fn .. ": nesterov momentum needs a momentum > 0 and zero dampening")
    end
  end)
optim.SGD = SGD

function SGD:update(g)
  local state = self.state
  local lr, mom, damp, wd, nest = g.lr, g.momentum, g.dampening, g.weight_decay, g.nesterov
  for _, p in ipairs(g.params) do
    local st = state[p]
    if mom == 0 then
      sgd_step(p, nil, false, lr, 0, damp, wd, false)
    elseif st and st.momentum_buffer then
      sgd_step(p, st.momentum_buffer, false, lr, mom, damp, wd, nest)
    elseif p.grad ~= nil then
      local buf = tau.zeros(p:size())
      sgd_step(p, buf, true, lr, mom, damp, wd, nest)
      state[p] = {momentum_buffer = buf}
    end
  end
end

-------------------------------------------------------------------------------- Adam, AdamW

local function adam_validate(g, fn)
  check_beta(g.betas[1], "beta1", fn)
  check_beta(g.betas[2], "beta2", fn)
end

local function adam_spec(weight_decay)
  return {lr = {"number", min = 0, default = 1e-3}, betas = {"table", default = {0.9, 0.999}, desc = "a pair {beta1, beta2}"},
          eps = {"number", min = 0, default = 1e-8}, weight_decay = {"number", min = 0, default = weight_decay},
          amsgrad = {"boolean", default = false}}
end

local function adam_update(self, g, decoupled)
  local state = self.state
  local lr, b1, b2, eps, wd = g.lr, g.betas[1], g.betas[2], g.eps, g.weight_decay
  local ams = g.amsgrad
  for _, p in ipairs(g.params) do
    local st = state[p]
    if not st then
      if p.grad ~= nil then
        st = {step = 0, exp_avg = tau.zeros(p:size()), exp_avg_sq = tau.zeros(p:size()),
              max_exp_avg_sq = ams and tau.zeros(p:size()) or nil}
        state[p] = st
      end
    end
    if st then
      local vmax = nil
      if ams then
        st.max_exp_avg_sq = st.max_exp_avg_sq or tau.zeros(p:size())
        vmax = st.max_exp_avg_sq
      end
      if adam_step(p, st.exp_avg, st.exp_avg_sq, vmax, st.step + 1, lr, b1, b2, eps, wd, decoupled) then
        st.step = st.step + 1
      end
    end
  end
end

-- Adam: L2 weight decay added to the gradient; bias-corrected moments.
local Adam = class("Adam", adam_spec(0), adam_validate)
optim.Adam = Adam
function Adam:update(g) adam_update(self, g, false) end

-- AdamW: decoupled weight decay, p <- p * (1 - lr * weight_decay) before the Adam step.
local AdamW = class("AdamW", adam_spec(1e-2), adam_validate)
optim.AdamW = AdamW
function AdamW:update(g) adam_update(self, g, true) end

-------------------------------------------------------------------------------- clipping

-- Scales the gradients of params in place so their joint norm is at most max_norm (when it
-- exceeds it); returns the norm before clipping. norm_type may be math.huge.
function optim.clip_grad_norm(params, max_norm, norm_type)
  if tau.is_tensor(params) then params = {params} end
  if type(params) ~= "table" then raise("tau.optim.clip_grad_norm: params must be a list of tensors") end
  if type(max_norm) ~= "number" then raise("tau.optim.clip_grad_norm: max_norm must be a number") end
  return clip(params, max_norm, norm_type or 2)
end

-------------------------------------------------------------------------------- schedules

-- A schedule sets the learning rate of every group from its initial_lr and a step count;
-- step() advances the count by one and applies the new rate. Construction applies the rate
-- for count 0. The field per_step tells a training loop when to call step(): after every
-- optimiser step when true, after every epoch when false.
local Schedule = {}
Schedule.__index = Schedule

local function schedule(name, rate)
  local cls = setmetatable({__name = name, rate = rate}, {__index = Schedule})
  cls.__index = cls
  return cls
end

local function new_schedule(cls, opt, o, fn)
  if type(opt) ~= "table" or type(opt.param_groups) ~= "table" then
    raise(fn .. ": argument 1 must be an optimiser")
  end
  local self = setmetatable({optimizer = opt, last_step = 0, o = o, fn = fn, per_step = false}, cls)
  self.base_lrs = {}
  for i, g in ipairs(opt.param_groups) do
    g.initial_lr = g.initial_lr or g.lr
    self.base_lrs[i] = g.initial_lr
  end
  self:apply()
  return self
end

function Schedule:apply()
  for i, g in ipairs(self.optimizer.param_groups) do g.lr = self:rate(self.base_lrs[i], self.last_step) end
end

function Schedule:step()
  self.last_step = self.last_step + 1
  self:apply()
  return self:get_lr()
end

function Schedule:get_lr() return self.optimizer.param_groups[1].lr end

function Schedule:get_lrs()
  local out = {}
  for i, g in ipairs(self.optimizer.param_groups) do out[i] = g.lr end
  return out
end

function Schedule:state_dict()
  return {last_step = self.last_step, base_lrs = copy(self.base_lrs)}
end

function Schedule:load_state_dict(sd)
  if type(sd) ~= "table" or type(sd.last_step) ~= "number" then
    raise(self.fn .. ":load_state_dict: expected a table from state_dict()")
  end
  self.last_step = sd.last_step
  if sd.base_lrs then self.base_lrs = copy(sd.base_lrs) end
  self:apply()
end

local Cosine = schedule("cosine", function(self, base, s)
  local o = self.o
  local warm, total = o.warmup_steps, o.total_steps
  if s < warm then return base * (s + 1) / (warm + 1) end
  if s >= total then return o.min_lr end
  local progress = (s - warm) / math.max(1, total - warm)
  return o.min_lr + (base - o.min_lr) * 0.5 * (1 + math.cos(math.pi * progress))
end)

-- cosine(opt, {epochs, warmup = 0, steps_per_epoch = 1, min_lr = 0}): call step() once per
-- optimiser step when steps_per_epoch is given (once per epoch with the default 1). Linear
-- warmup over `warmup` epochs (rate (s + 1) / (W + 1) of the base at step s), then a half
-- cosine from the base rate down to min_lr at the end of the last epoch.
local cosine_opts = tau.options.spec("tau.optim.cosine", {
  epochs = {"number", min = 0, required = true}, steps_per_epoch = {"number", min = 1, default = 1},
  warmup = {"number", min = 0, default = 0}, min_lr = {"number", min = 0, default = 0}})
function optim.cosine(opt, o)
  local fn = "tau.optim.cosine"
  o = cosine_opts(o)
  local spe, warmup = o.steps_per_epoch, o.warmup
  local cfg = {total_steps = math.floor(o.epochs * spe + 0.5), warmup_steps = math.floor(warmup * spe + 0.5),
               min_lr = o.min_lr}
  if cfg.warmup_steps > cfg.total_steps then raise(fn .. ": warmup is longer than the schedule") end
  local s = new_schedule(Cosine, opt, cfg, fn)
  s.per_step = spe > 1
  return s
end

local MultiStep = schedule("multistep", function(self, base, s)
  local n = 0
  for _, m in ipairs(self.o.milestones) do if s >= m then n = n + 1 end end
  return base * self.o.gamma ^ n
end)

-- multistep(opt, {milestones = {30, 60}, gamma = 0.1}): the rate is multiplied by gamma once
-- step() has been called milestone times (step() once per epoch, as PyTorch's MultiStepLR).
local multistep_opts = tau.options.spec("tau.optim.multistep", {
  milestones = {"table", required = true, desc = "a list of step counts"}, gamma = {"number", min = 0, default = 0.1}})
function optim.multistep(opt, o)
  local fn = "tau.optim.multistep"
  o = multistep_opts(o)
  local ms = {}
  for i, m in ipairs(o.milestones) do
    if type(m) ~= "number" or not (m >= 0) then raise(string.format("%s: milestone %d must be a non-negative number, got %s", fn, i, tostring(m))) end
    ms[i] = m
  end
  table.sort(ms)
  return new_schedule(MultiStep, opt, {milestones = ms, gamma = o.gamma}, fn)
end

local StepLR = schedule("step_lr", function(self, base, s)
  return base * self.o.gamma ^ (s // self.o.step_size)
end)

-- step_lr(opt, {step_size, gamma = 0.1}): multiplied by gamma every step_size calls of step().
local step_lr_opts = tau.options.spec("tau.optim.step_lr", {
  step_size = {"number", min = 1, required = true}, gamma = {"number", min = 0, default = 0.1}})
function optim.step_lr(opt, o)
  o = step_lr_opts(o)
  return new_schedule(StepLR, opt, {step_size = o.step_size, gamma = o.gamma}, "tau.optim.step_lr")
end

return optim
