/* The autograd engine driven from C (core/tensor/autograd.c, ops.c). */
#include "tensor_helpers.h"

/* ---- autograd from C --------------------------------------------------------------------------- */

static tau_tensor *leaf(int nd, const int64_t *shape) {
    tau_tensor *t = rnd(nd, shape);
    t->requires_grad = 1;
    return t;
}

START_TEST(test_autograd_small_graph) {
    int64_t s[1] = {3};
    tau_tensor *a = leaf(1, s), *b = leaf(1, s);
    /* loss = sum(a * b + a) */
    tau_tensor *m = tau_op_binary(TAU_MUL, a, b);
    ck_assert_ptr_nonnull(m->grad_fn);
    ck_assert(m->requires_grad);
    tau_tensor *p = tau_op_binary(TAU_ADD, m, a);
    tau_tensor *loss = tau_op_reduce(TAU_SUM, p, -1, 0, 0, NULL);
    ck_assert_int_eq(tau_backward(loss, NULL, 1), TAU_OK);
    for (int i = 0; i < 3; i++) {
        ck_assert(close_to(tau_f32(a->grad)[i], tau_f32(b)[i] + 1, 1e-6));
        ck_assert(close_to(tau_f32(b->grad)[i], tau_f32(a)[i], 1e-6));
    }
    ck_assert_ptr_null(m->grad); /* intermediate tensors keep no .grad */
    /* retained: a second backward accumulates */
    ck_assert_int_eq(tau_backward(loss, NULL, 0), TAU_OK);
    for (int i = 0; i < 3; i++) ck_assert(close_to(tau_f32(b->grad)[i], 2 * tau_f32(a)[i], 1e-6));
    /* freed now */
    ck_assert_int_eq(tau_backward(loss, NULL, 0), TAU_ERR);
    assert_err("backward: the graph has already been freed by an earlier backward; pass retain_graph = true");
    /* a graph that shares freed parts */
    tau_tensor *q = tau_op_binary(TAU_MUL, m, m), *ql = tau_op_reduce(TAU_SUM, q, -1, 0, 0, NULL);
    ck_assert_int_eq(tau_backward(ql, NULL, 0), TAU_ERR);
    assert_err("part of the graph was freed");
    /* non-scalar roots need a seed of their shape */
    tau_tensor *m2 = tau_op_binary(TAU_MUL, a, b);
    ck_assert_int_eq(tau_backward(m2, NULL, 1), TAU_ERR);
    ck_assert_str_eq(tau_errmsg(), "backward: a gradient must be given for a non-scalar tensor of size [3]");
    tau_tensor *seed = RND(2);
    ck_assert_int_eq(tau_backward(m2, seed, 1), TAU_ERR);
    ck_assert_str_eq(tau_errmsg(), "backward: gradient of size [2] given for a tensor of size [3]");
    tau_tensor *seed3 = RND(3);
    tau_release(a->grad); a->grad = NULL;
    ck_assert_int_eq(tau_backward(m2, seed3, 0), TAU_OK);
    for (int i = 0; i < 3; i++) ck_assert(close_to(tau_f32(a->grad)[i], tau_f32(seed3)[i] * tau_f32(b)[i], 1e-6));
    /* a tensor outside any graph */
    tau_tensor *plain = RND(1);
    ck_assert_int_eq(tau_backward(plain, NULL, 0), TAU_ERR);
    assert_err("does not require grad");
    tau_release(plain); tau_release(seed); tau_release(seed3); tau_release(m2); tau_release(q); tau_release(ql);
    tau_release(loss); tau_release(p); tau_release(m); tau_release(a); tau_release(b);
}
END_TEST

START_TEST(test_autograd_grad_targets) {
    int64_t s[1] = {4};
    tau_tensor *x = leaf(1, s), *w = leaf(1, s);
    tau_tensor *y = tau_op_binary(TAU_MUL, x, w);            /* y = x w */
    tau_tensor *z = tau_op_binary(TAU_MUL, y, y);            /* z = y^2 */
    tau_tensor *l = tau_op_reduce(TAU_SUM, z, -1, 0, 0, NULL);
    /* the gradient w.r.t. the intermediate y alone */
    tau_tensor *targets[3] = {y, NULL, NULL}, *res[3];
    ck_assert_int_eq(tau_grad(l, NULL, targets, 1, res, 1), TAU_OK);
    ck_assert_ptr_nonnull(res[0]);
    for (int i = 0; i < 4; i++) ck_assert(close_to(tau_f32(res[0])[i], 2 * tau_f32(y)[i], 1e-6));
    tau_release(res[0]);
    /* leaves and intermediates together; .grad is left alone */
    targets[0] = x; targets[1] = y; targets[2] = z;
    ck_assert_int_eq(tau_grad(l, NULL, targets, 3, res, 1), TAU_OK);
    for (int i = 0; i < 4; i++) {
        float yi = tau_f32(y)[i];
        ck_assert(close_to(tau_f32(res[0])[i], 2 * yi * tau_f32(w)[i], 1e-5));
        ck_assert(close_to(tau_f32(res[1])[i], 2 * yi, 1e-6));
        ck_assert(close_to(tau_f32(res[2])[i], 1, 1e-6));
    }
    ck_assert_ptr_null(x->grad);
    ck_assert_ptr_null(w->grad);
    for (int k = 0; k < 3; k++) tau_release(res[k]);
    /* a leaf the root does not depend on gives NULL */
    tau_tensor *u = leaf(1, s);
    targets[0] = u;
    ck_assert_int_eq(tau_grad(l, NULL, targets, 1, res, 1), TAU_OK);
    ck_assert_ptr_null(res[0]);
    /* an input that does not require grad is refused */
    tau_tensor *plain = RND(4);
    targets[0] = x; targets[1] = plain;
    ck_assert_int_eq(tau_grad(l, NULL, targets, 2, res, 1), TAU_ERR);
    ck_assert_str_eq(tau_errmsg(), "grad: input 2 does not require grad");
    ck_assert_ptr_null(res[0]);
    /* the root itself */
    targets[0] = l;
    ck_assert_int_eq(tau_grad(l, NULL, targets, 1, res, 0), TAU_OK);
    ck_assert(close_to(tau_f32(res[0])[0], 1, 0));
    tau_release(res[0]);
    tau_release(plain); tau_release(u); tau_release(l); tau_release(z); tau_release(y); tau_release(x); tau_release(w);
}
END_TEST

START_TEST(test_autograd_inplace_checks) {
    int64_t s[1] = {3};
    tau_tensor *w = leaf(1, s), *x = RND(3);
    ck_assert_int_eq(tau_check_inplace("add_", w), TAU_ERR);
    ck_assert_str_eq(tau_errmsg(), "add_: a leaf tensor that requires grad cannot be modified in place "
                                   "(use tau.no_grad, or detach() it first)");
    tau_tensor *y = tau_op_binary(TAU_MUL, w, x);
    ck_assert_int_eq(tau_check_inplace("mul_", y), TAU_ERR);
    assert_err("in-place operations on a tensor recorded in an autograd graph are not supported");
    ck_assert_int_eq(tau_check_inplace("mul_", x), TAU_OK);
    tau_grad_enabled = 0;
    ck_assert_int_eq(tau_check_inplace("add_", w), TAU_OK);
    tau_grad_enabled = 1;
    /* x was saved by mul: writing it afterwards is caught at backward time */
    tau_tensor *l = tau_op_reduce(TAU_SUM, y, -1, 0, 0, NULL);
    tau_tensor *one = tau_scalar(1);
    ck_assert_int_eq(tau_binary_inplace(TAU_ADD, x, one), TAU_OK);
    ck_assert_int_eq(tau_backward(l, NULL, 1), TAU_ERR);
    assert_err("backward: input 2 of mul was modified in place after it was used");
    /* an output saved by exp, written through a view */
    tau_tensor *e = tau_op_unary(TAU_EXP, w, 0, 0), *el = tau_op_reduce(TAU_SUM, e, -1, 0, 0, NULL);
    tau_tensor *ev = tau_alias(e);
    ck_assert_int_eq(tau_fill_(ev, 0), TAU_OK);
    ck_assert_int_eq(tau_backward(el, NULL, 1), TAU_ERR);
    assert_err("a tensor saved by exp was modified in place");
    /* add does not read its inputs, so writing them is harmless */
    tau_tensor *x2 = RND(3), *a = tau_op_binary(TAU_ADD, w, x2), *al = tau_op_reduce(TAU_SUM, a, -1, 0, 0, NULL);
    ck_assert_int_eq(tau_fill_(x2, 3), TAU_OK);
    ck_assert_int_eq(tau_backward(al, NULL, 0), TAU_OK);
    for (int i = 0; i < 3; i++) ck_assert(tau_f32(w->grad)[i] == 1);
    tau_release(x2); tau_release(a); tau_release(al); tau_release(ev); tau_release(e); tau_release(el);
    tau_release(one); tau_release(l); tau_release(y); tau_release(w); tau_release(x);
}
END_TEST

START_TEST(test_autograd_no_grad_and_dot) {
    int64_t s[2] = {2, 3};
    tau_tensor *w = leaf(2, s), *x = RND(3, 4);
    tau_grad_enabled = 0;
    tau_tensor *n = tau_op_matmul(w, x);
    ck_assert_ptr_null(n->grad_fn);
    ck_assert(!n->requires_grad);
    tau_grad_enabled = 1;
    tau_tensor *m = tau_op_matmul(w, x);
    tau_tensor *r = tau_op_unary(TAU_RELU, m, 0, 0);
    tau_tensor *l = tau_op_reduce(TAU_MEAN, r, -1, 0, 0, NULL);
    char *dot = tau_graph_dot(l);
    ck_assert_ptr_nonnull(dot);
    ck_assert(strstr(dot, "digraph") && strstr(dot, "matmul") && strstr(dot, "relu") && strstr(dot, "mean"));
    ck_assert(strstr(dot, "leaf [2, 3]"));
    free(dot);
    /* comparisons and int32 conversions do not record */
    tau_tensor *c = tau_op_binary(TAU_GT, m, m);
    ck_assert(!c->requires_grad && !c->grad_fn);
    tau_tensor *ci = tau_op_to_dtype(m, TAU_I32);
    ck_assert(!ci->requires_grad);
    tau_tensor *am = tau_op_reduce(TAU_ARGMAX, m, 1, 0, 0, NULL);
    ck_assert(!am->requires_grad);
    tau_release(am); tau_release(ci); tau_release(c);
    tau_release(l); tau_release(r); tau_release(m); tau_release(n); tau_release(w); tau_release(x);
}
END_TEST

START_TEST(test_autograd_missing_rule) {
    /* an op recorded without a backward is an error at backward time, never a zero gradient */
    static const tau_op_info no_rule = {"custom", NULL};
    int64_t s[1] = {2};
    tau_tensor *x = leaf(1, s), *y = tau_clone(x);
    tau_tensor *ins[1] = {x};
    tau_node *n = tau_record(&no_rule, y, ins, 1, 1u);
    ck_assert_ptr_nonnull(n);
    ck_assert_ptr_eq(y->grad_fn, n);
    ck_assert(y->requires_grad);
    tau_tensor *l = tau_op_reduce(TAU_SUM, y, -1, 0, 0, NULL);
    ck_assert_int_eq(tau_backward(l, NULL, 1), TAU_ERR);
    ck_assert_str_eq(tau_errmsg(), "backward: custom has no gradient rule");
    ck_assert_ptr_null(x->grad);
    /* saving: the node's slots are limited and say so */
    for (int i = 0; i < TAU_NODE_SAVED; i++) ck_assert_int_eq(tau_node_save(n, x), TAU_OK);
    ck_assert_int_eq(tau_node_save(n, x), TAU_ERR);
    ck_assert_str_eq(tau_errmsg(), "custom: too many saved tensors");
    tau_tensor *ins2[2] = {y, NULL};
    ck_assert(tau_needs_grad(ins2, 2));
    tau_tensor *plain = RND(2), *ins3[2] = {plain, NULL};
    ck_assert(!tau_needs_grad(ins3, 2));
    tau_grad_enabled = 0;
    ck_assert(!tau_needs_grad(ins2, 2));
    tau_grad_enabled = 1;
    tau_release(plain); tau_release(l); tau_release(y); tau_release(x);
}
END_TEST

START_TEST(test_autograd_memory) {
    /* building and freeing graphs leaves no tensor memory behind */
    size_t before = tau_live_bytes();
    int64_t s[2] = {8, 8};
    tau_tensor *w = leaf(2, s);
    for (int it = 0; it < 50; it++) {
        tau_tensor *x = rnd(2, s);
        tau_tensor *h = tau_op_matmul(x, w), *a = tau_op_unary(TAU_TANH, h, 0, 0);
        tau_tensor *l = tau_op_reduce(TAU_SUM, a, -1, 0, 0, NULL);
        ck_assert_int_eq(tau_backward(l, NULL, it % 2), TAU_OK);
        tau_release(l); tau_release(a); tau_release(h); tau_release(x);
    }
    ck_assert_ptr_nonnull(w->grad);
    tau_release(w);
    ck_assert_uint_eq(tau_live_bytes(), before);
    /* a long chain releases without deep recursion */
    tau_tensor *v = leaf(1, (int64_t[]){1}), *cur = tau_retain(v);
    for (int i = 0; i < 200000; i++) {
        tau_tensor *nx = tau_op_unary(TAU_NEG, cur, 0, 0);
        tau_release(cur);
        cur = nx;
    }
    tau_release(cur);
    tau_release(v);
    ck_assert_uint_eq(tau_live_bytes(), before);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("tensor_autograd");
    TCase *tc = check_tcase("autograd", 0);
    tcase_add_test(tc, test_autograd_small_graph);
    tcase_add_test(tc, test_autograd_grad_targets);
    tcase_add_test(tc, test_autograd_inplace_checks);
    tcase_add_test(tc, test_autograd_no_grad_and_dot);
    tcase_add_test(tc, test_autograd_missing_rule);
    tcase_add_test(tc, test_autograd_memory);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return check_main(suite()); }
