-- tau.gradcheck(fn, inputs, {eps, atol, rtol, raise}): compares the gradients autograd
-- computes for fn(table.unpack(inputs)) with central finite differences, for every element of
-- every input that requires grad. The output is reduced with a fixed random weighting so
-- every output element is checked. Returns true, or false and a message (or raises, when
-- opts.raise is true).
local tau = require "tau"
local raise = require("tau.util").raise

local gradcheck_opts = tau.options.spec("tau.gradcheck", {
  eps = {"number", above = 0, default = 1e-3}, atol = {"number", min = 0, default = 1e-2},
  rtol = {"number", min = 0, default = 1e-2}, raise = {"boolean", default = false}, seed = {"integer", default = 1234}})

local function gradcheck(fn, inputs, opts)
  opts = gradcheck_opts(opts)
  local eps, atol, rtol = opts.eps, opts.atol, opts.rtol
  if type(fn) ~= "function" then raise("tau.gradcheck: argument 1 must be a function") end
  if type(inputs) ~= "table" then raise("tau.gradcheck: argument 2 must be a list of inputs") end
  local out = fn(table.unpack(inputs))
  if not tau.is_tensor(out) then raise("tau.gradcheck: fn must return a tensor") end
  -- a fixed weighting w so that d(sum(out * w)) checks every output element
  local state = tau.get_rng_state()
  tau.manual_seed(opts.seed)
  local w = tau.rand(out:size()) + 0.5
  tau.set_rng_state(state)
  local wrt, idx = {}, {}
  for i, x in ipairs(inputs) do
    if tau.is_tensor(x) and x.needs_grad then
      wrt[#wrt + 1] = x
      idx[#idx + 1] = i
    end
  end
  if #wrt == 0 then raise("tau.gradcheck: no input requires grad") end
  local analytic = tau.grad((out * w):sum(), wrt)
  local function objective()
    return tau.no_grad(function() return (fn(table.unpack(inputs)) * w):sum():item() end)
  end
  for k, x in ipairs(wrt) do
    local g = analytic[k]
    for e = 1, x:numel() do
      local orig = x:get_flat(e)
      tau.no_grad(function() x:set_flat(e, orig + eps) end)
      local fp = objective()
      tau.no_grad(function() x:set_flat(e, orig - eps) end)
      local fm = objective()
      tau.no_grad(function() x:set_flat(e, orig) end)
      local num = (fp - fm) / (2 * eps)
      local ana = g:get_flat(e)
      if math.abs(num - ana) > atol + rtol * math.abs(num) or ana ~= ana then
        local msg = string.format("tau.gradcheck: input %d, element %d: analytic %.6g, numerical %.6g",
                                  idx[k], e, ana, num)
        if opts.raise then raise(msg) end
        return false, msg
      end
    end
  end
  return true
end

return gradcheck
